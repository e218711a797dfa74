"""Platform blind index for e-mail addresses: login must find the user before the account (and its key) is known."""

from __future__ import annotations

import hmac
import unicodedata
from hashlib import sha256

from switchboard.crypto import peppers

PEPPERS_ENV = peppers.ENV
FAMILY = "blind_index"
# Existing lookups and users without a recorded version were indexed under the first key.
FIRST_VERSION = f"{FAMILY}_v1"


def normalize_email(email: str) -> str:
    """NFKC, trimmed, lower case: the form an address is indexed, compared and throttled by."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def current_version() -> str:
    """The version new indexes and digests are written under: the newest one every process has loaded
    (peppers.settled), not a version added a minute ago that a process with an older cache would not try."""
    return peppers.settled(FAMILY)


def live_versions() -> list[str]:
    """Every version the Peppers secret still has, newest first: what a lookup must try."""
    return peppers.names(FAMILY)


def email_index(email: str, version: str | None = None) -> str:
    """HMAC-SHA256(blind_index_v<n>, normalised e-mail), hex: the only form in which an e-mail is looked up.

    `version` None is current_version() (what new lookups are stored under).
    """
    _, key = peppers.versioned(FAMILY, version or current_version())
    return hmac.new(key, normalize_email(email).encode(), sha256).hexdigest()


def email_indexes(email: str) -> list[tuple[str, str]]:
    """(version, index) of the e-mail under every live version, newest first: an address stored before a rotation
    is found under the version it was stored with."""
    return [(version, email_index(email, version)) for version in live_versions()]


def keyed_digest(purpose: str, value: str, version: str | None = None) -> str:
    """HMAC-SHA256 of `value` for one `purpose` (a client IP, a device): stored and compared, never readable."""
    # The purpose prefix keeps one kind's digests useless as another's (an IP's digest is no e-mail index).
    _, key = peppers.versioned(FAMILY, version or current_version())
    return hmac.new(key, f"{purpose}\0{value}".encode(), sha256).hexdigest()


def keyed_digests(purpose: str, value: str) -> list[str]:
    """The digest under every live version, the one to store (current_version) first: what comparisons try."""
    write = current_version()
    return [keyed_digest(purpose, value, v) for v in [write, *(v for v in live_versions() if v != write)]]
