"""Self-signed certificates for tests: an EC P-256 key and its certificate, written as PEM files."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def named(common_name: str) -> x509.Name:
    """A distinguished name of just a common name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def unsigned(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    valid: tuple[datetime.datetime, datetime.datetime],
) -> x509.CertificateBuilder:
    """A certificate of `subject` by `issuer` for the `valid` period, with a random serial: add extensions, sign."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
    )


def write_self_signed(
    cert_file: Path,
    key_file: Path,
    common_name: str,
    *,
    valid: tuple[datetime.datetime, datetime.datetime],
    dns_names: Sequence[str] = (),
) -> None:
    """A certificate for `common_name` (and `dns_names` as its subject alternative names) that signs itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = named(common_name)
    builder = unsigned(name, name, key.public_key(), valid)
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    cert_file.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
