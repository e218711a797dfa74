"""Opaque bearer secrets: session and one-time tokens (stored as SHA-256) and API keys (stored as peppered HMAC)."""

from __future__ import annotations

import hmac
import re
import secrets as pysecrets
from dataclasses import dataclass
from hashlib import sha256

from switchboard.crypto import peppers

SESSION_PREFIX = "sbs_"
TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG
API_KEY_PEPPER_ENV = peppers.ENV
_API_KEY = re.compile(r"^sb_(live|test)_(key_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$")


def new_token(prefix: str = "") -> str:
    """A new opaque 256-bit token (43 base64url characters after the prefix)."""
    return prefix + pysecrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """What the database keeps of a session or single-use token: SHA-256, hex (the token has 256 bits of entropy)."""
    return sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or digests."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class ApiKeyParts:
    """An API key split into its public id and its secret."""

    mode: str  # live | test
    key_id: str
    secret: str


def new_api_key(mode: str, key_id: str) -> tuple[str, ApiKeyParts]:
    """`sb_<live|test>_<key id>_<256-bit secret>`: the key id finds the record, the secret proves possession."""
    secret = pysecrets.token_urlsafe(TOKEN_BYTES)
    return f"sb_{mode}_{key_id}_{secret}", ApiKeyParts(mode=mode, key_id=key_id, secret=secret)


def parse_api_key(key: str) -> ApiKeyParts | None:
    """The parts of a well-formed API key, or None."""
    match = _API_KEY.match(key)
    if match is None:
        return None
    mode, key_id, secret = match.groups()
    return ApiKeyParts(mode=mode, key_id=key_id, secret=secret)


def _api_key_pepper(version: str | None) -> tuple[str, bytes]:
    return peppers.versioned("api_key", version)


def current_api_key_version() -> str:
    """The pepper version new API-key hashes are written under."""
    return peppers.current("api_key")


def hash_api_secret(secret: str, pepper_version: str | None = None) -> tuple[str, str]:
    """HMAC-SHA256(pepper, secret) as hex, with the pepper version used (None = current)."""
    version, pepper = _api_key_pepper(pepper_version)
    return hmac.new(pepper, secret.encode(), sha256).hexdigest(), version


def api_secret_matches(secret: str, stored_hash: str, pepper_version: str) -> bool:
    """Constant-time check of a presented secret against the stored HMAC, under the version it was stored with."""
    presented, _ = hash_api_secret(secret, pepper_version)
    return same(presented, stored_hash)
