"""Single-purpose media links: `base64url(payload).base64url(mac)`, MAC'd with a key derived from the data key.

The payload binds the account, the file, the message it was sent with, the carrier that fetches it and an expiry;
anything else (another carrier, another message, a later time) needs a new link, which only the platform can mint.
The key is HKDF-SHA256 of the account's data key, so crypto-shredding an account kills its links too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "1"
KEY_INFO = b"switchboard/media-link/v1"
MAC_BYTES = 32
MAX_TOKEN_CHARS = 256  # a real token is about 190: anything longer is refused before decoding
_SEP = "|"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_ACCOUNT = re.compile(r"^acct_[0-9a-z]{1,40}$")
_FILE = re.compile(r"^fil_[0-9a-z]{1,40}$")
_MESSAGE = re.compile(r"^msg_[0-9a-z]{1,40}$")
_CARRIER = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_EXPIRY = re.compile(r"^[1-9][0-9]{0,11}$")


@dataclass(frozen=True)
class LinkClaims:
    """What one link allows: this carrier fetches this file of this message of this account until `expires_at`."""

    account_id: str
    file_id: str
    message_id: str
    carrier: str
    expires_at: int  # epoch seconds


def link_key(data_key: bytes) -> bytes:
    """The account's media-link MAC key (HKDF-SHA256 of its data key, info `switchboard/media-link/v1`)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(data_key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    """Strict base64url without padding: any other spelling of the same bytes is refused (one token, one string)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64(raw) == text else None


def _payload(claims: LinkClaims) -> bytes:
    fields = (VERSION, claims.account_id, claims.file_id, claims.message_id, claims.carrier, str(claims.expires_at))
    return _SEP.join(fields).encode()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def mint(key: bytes, claims: LinkClaims) -> str:
    """The token of `claims` under the account's link key."""
    payload = _payload(claims)
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


@dataclass(frozen=True)
class Parsed:
    """A well-formed token: its claims (not yet verified), and the exact payload and MAC it carried."""

    claims: LinkClaims
    payload: bytes
    mac: bytes


def parse(token: str) -> Parsed | None:
    """The claims a token states, or None for anything malformed (never an exception: every refusal is one 404)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return None
    encoded_payload, encoded_mac = token.split(".")
    payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    if payload is None or mac is None or len(mac) != MAC_BYTES:
        return None
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = text.split(_SEP)
    if len(fields) != 6:
        return None
    version, account_id, file_id, message_id, carrier, expiry = fields
    checks = ((_ACCOUNT, account_id), (_FILE, file_id), (_MESSAGE, message_id), (_CARRIER, carrier), (_EXPIRY, expiry))
    if version != VERSION or not all(pattern.fullmatch(value) for pattern, value in checks):
        return None
    claims = LinkClaims(account_id, file_id, message_id, carrier, int(expiry))
    return Parsed(claims=claims, payload=payload, mac=mac)


def authentic(key: bytes, parsed: Parsed) -> bool:
    """Whether the token's MAC is the account's (constant-time)."""
    return hmac.compare_digest(_mac(key, parsed.payload), parsed.mac)
