"""Platform blind index for e-mail addresses: login must find the user before the account (and its key) is known."""

from __future__ import annotations

import base64
import hmac
import unicodedata
from hashlib import sha256

from switchboard.crypto import secret_store

PEPPERS_ENV = "PEPPERS_SECRET"
KEY_NAME = "blind_index_v1"  # a new version means re-indexing every e-mail (runbook), so the version is fixed here


def normalize_email(email: str) -> str:
    """NFKC, trimmed, lower case: the form an address is indexed, compared and throttled by."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def _key() -> bytes:
    encoded = secret_store.get_json(PEPPERS_ENV)[KEY_NAME]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def email_index(email: str) -> str:
    """HMAC-SHA256(blind_index_v1, normalised e-mail), hex: the only form in which an e-mail is looked up."""
    return hmac.new(_key(), normalize_email(email).encode(), sha256).hexdigest()


def keyed_digest(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for one `purpose` (a client IP, a device): stored and compared, never readable."""
    # The purpose prefix keeps one kind's digests useless as another's (an IP's digest is no e-mail index).
    return hmac.new(_key(), f"{purpose}\0{value}".encode(), sha256).hexdigest()
