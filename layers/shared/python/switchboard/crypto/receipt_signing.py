"""R61: deletion receipts signed in KMS (ECDSA P-256, SHA-256) and the public key customers verify them with."""

from __future__ import annotations

import base64
import json
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from switchboard import settings
from switchboard.dal import clients

FORMAT = "switchboard.deletion-receipt.v1"
KMS_ALGORITHM = "ECDSA_SHA_256"  # over the exact bytes of `receipt`; the signature is DER (ASN.1), not JOSE r||s
_public: dict[str, bytes] = {}  # KMS key id -> its public key (SubjectPublicKeyInfo, DER): it never changes


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key() -> str:
    return settings.get().key("RECEIPT_KEY_ID")


def _public_der() -> bytes:
    key = _key()
    if key not in _public:
        _public[key] = bytes(clients.client("kms").get_public_key(KeyId=key)["PublicKey"])
    return _public[key]


def _jwk(der: bytes) -> dict[str, str]:
    numbers = serialization.load_der_public_key(der)
    if not isinstance(numbers, ec.EllipticCurvePublicKey):
        raise TypeError("the receipt key is not an EC key")
    point = numbers.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(point.x.to_bytes(32, "big")),
        "y": _b64url(point.y.to_bytes(32, "big")),
    }


def key_id(der: bytes) -> str:
    """The published id of a public key: its RFC 7638 JWK thumbprint (SHA-256), so anyone can recompute it."""
    jwk = _jwk(der)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return _b64url(sha256(canonical.encode()).digest())


def published_keys() -> dict[str, Any]:
    """`GET /.well-known/deletion-receipt-keys`: the verification key as a JWK set, each key also as PEM."""
    der = _public_der()
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "keys": [
            {
                **_jwk(der),
                "kid": key_id(der),
                "use": "sig",
                "alg": "ES256",
                "signature_encoding": "der",
                "pem": pem.decode(),
            }
        ]
    }


def canonical(document: dict[str, Any]) -> str:
    """The exact text that is signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(document: dict[str, Any]) -> dict[str, str]:
    """The signed receipt: `receipt` (the canonical JSON text, naming the key id), `signature` (base64url DER
    ECDSA over its UTF-8 bytes), `algorithm` and `key_id`."""
    kid = key_id(_public_der())
    text = canonical({**document, "format": FORMAT, "key_id": kid})
    response = clients.client("kms").sign(
        KeyId=_key(), Message=text.encode(), MessageType="RAW", SigningAlgorithm=KMS_ALGORITHM
    )
    return {"receipt": text, "signature": _b64url(bytes(response["Signature"])), "algorithm": "ES256", "key_id": kid}
