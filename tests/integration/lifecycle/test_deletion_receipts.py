"""R61: a purge ends with a deletion receipt signed in KMS that anyone verifies with the published public key only."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from functions.purge_job import handler
from switchboard import clock
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import delete_account, populate


def _verify(pem: str, receipt: str, signature: str) -> None:
    """What a customer does: the `cryptography` library and the published PEM, nothing of ours."""
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public.verify(raw, receipt.encode(), ec.ECDSA(hashes.SHA256()))


def test_the_receipt_verifies_with_the_published_key_and_a_tampered_one_does_not(identity: dict[str, str]) -> None:
    world = populate("receipt@purge.example")
    before = call("GET", f"/v1/deletion-receipts/{world.account_id}")
    assert (before.status, before.body["code"]) == (404, "not_found")  # alive: no receipt
    assert delete_account(world.owner).status == 202
    assert call("GET", f"/v1/deletion-receipts/{world.account_id}").status == 404  # pending: none yet
    clock.advance(GRACE_S + 1)
    assert handler.lambda_handler({}, Context())["accounts"]["purged"] == 1

    keys = call("GET", "/.well-known/deletion-receipt-keys")
    answer = call("GET", f"/v1/deletion-receipts/{world.account_id}")

    assert keys.status == 200
    assert answer.status == 200
    (key,) = keys.body["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    signed = answer.body
    assert signed["algorithm"] == "ES256"
    assert signed["key_id"] == key["kid"]
    _verify(key["pem"], signed["receipt"], signed["signature"])
    document = json.loads(signed["receipt"])
    assert document["format"] == "switchboard.deletion-receipt.v1"
    assert document["account_id"] == world.account_id
    assert document["key_id"] == key["kid"]
    assert document["purged_at"] >= document["purge_after"] > document["requested_at"]
    assert document["deleted"]["lookups"] >= 6
    assert sum(document["deleted"].values()) > 15

    # The JWK members and the PEM are the same key; `kid` is its RFC 7638 thumbprint, recomputable by anyone.
    numbers = serialization.load_pem_public_key(key["pem"].encode()).public_numbers()  # type: ignore[union-attr]
    assert base64.urlsafe_b64decode(key["x"] + "=") == numbers.x.to_bytes(32, "big")  # type: ignore[union-attr]
    thumbprint = json.dumps({k: key[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":")).encode()
    from hashlib import sha256  # noqa: PLC0415

    assert key["kid"] == base64.urlsafe_b64encode(sha256(thumbprint).digest()).decode().rstrip("=")

    tampered = signed["receipt"].replace(
        f'"purged_at":{document["purged_at"]}', f'"purged_at":{document["purged_at"] + 86400}'
    )
    assert tampered != signed["receipt"]
    with pytest.raises(InvalidSignature):
        _verify(key["pem"], tampered, signed["signature"])
    other_account = signed["receipt"].replace(world.account_id, "acct_" + "0" * 26)
    with pytest.raises(InvalidSignature):
        _verify(key["pem"], other_account, signed["signature"])
    flipped = bytearray(base64.urlsafe_b64decode(signed["signature"] + "=" * (-len(signed["signature"]) % 4)))
    flipped[-1] ^= 1
    with pytest.raises(InvalidSignature):
        _verify(key["pem"], signed["receipt"], base64.urlsafe_b64encode(bytes(flipped)).decode())
    # A key the customer made up does not verify it either (the receipt is bound to the published key).
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    stranger_pem = stranger.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidSignature):
        _verify(stranger_pem.decode(), signed["receipt"], signed["signature"])


@pytest.mark.parametrize("account_id", ["acct_" + "0" * 26, "acct_x", "RECEIPT", "PURGE%23DUE", "ACCT_" + "0" * 26])
def test_unknown_and_malformed_ids_have_no_receipt(identity: dict[str, str], account_id: str) -> None:
    answer = call("GET", f"/v1/deletion-receipts/{account_id}")
    assert (answer.status, answer.body["code"]) == (404, "not_found")
