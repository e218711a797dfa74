"""The audit chain's keyed MACs: HMAC-SHA-256 computed and checked by KMS, whose key no function can read."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients

ALGORITHM = "HMAC_SHA_256"
# KMS answers a MAC that does not match with this error rather than MacValid=false.
_INVALID = frozenset({"KMSInvalidMacException", "InvalidCiphertextException"})


def _kms() -> Any:
    return clients.client("kms")


def _key_id() -> str:
    return settings.get().key("AUDIT_MAC_KEY_ID")


def generate(message: bytes) -> str:
    """The MAC of `message` under the audit key (base64), by KMS GenerateMac."""
    response = _kms().generate_mac(KeyId=_key_id(), Message=message, MacAlgorithm=ALGORITHM)
    return base64.b64encode(response["Mac"]).decode()


def verify(message: bytes, mac: str) -> bool:
    """Whether `mac` (base64) is the audit key's MAC of `message`, by KMS VerifyMac; a malformed MAC is False."""
    try:
        raw = base64.b64decode(mac, validate=True)
    except (binascii.Error, ValueError):
        return False
    if not raw:
        return False
    try:
        response = _kms().verify_mac(KeyId=_key_id(), Message=message, MacAlgorithm=ALGORITHM, Mac=raw)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _INVALID:
            return False
        raise
    return bool(response.get("MacValid"))
