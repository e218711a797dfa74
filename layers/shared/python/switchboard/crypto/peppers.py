"""The Peppers secret's versioned keys (`<family>_v<n>`): the newest writes, every version present still verifies."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from switchboard import clock
from switchboard.crypto import secret_store

ENV = "PEPPERS_SECRET"
# password: the Argon2id pepper; api_key: the HMAC key of API-key secrets; blind_index: the HMAC key of e-mail
# blind indexes and of the keyed digests of login IPs and devices.
FAMILIES = ("password", "api_key", "blind_index")
# Beside the keys: when each version after v1 was added (RFC 3339), so listings need no value and no other API.
CREATED = "created_at"
# Every process has loaded a version this long after it was added (its cache lives at most MAX_AGE_S, plus slack).
SETTLE_S = int(secret_store.MAX_AGE_S) + 60


class UnknownVersion(KeyError):
    """A stored hash names a version the secret does not have (retired too early, or a foreign value)."""


def _pattern(family: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(family)}_v([1-9][0-9]*)$")


def number(name: str) -> int:
    """The version number of a key name (`password_v3` -> 3)."""
    return int(name.rsplit("_v", 1)[1])


def names(family: str, value: dict[str, Any] | None = None) -> list[str]:
    """The family's version names present in the secret, newest first."""
    if family not in FAMILIES:
        raise ValueError(f"not a pepper family: {family}")
    pattern = _pattern(family)
    present = value if value is not None else secret_store.get_json(ENV)
    return sorted((k for k in present if pattern.match(k)), key=number, reverse=True)


def current(family: str) -> str:
    """The version new hashes and MACs are written under: the family's highest."""
    found = names(family)
    if not found:
        raise UnknownVersion(f"{family}: no version in the Peppers secret")
    return found[0]


def key(name: str) -> bytes:
    """The key bytes of one version (UnknownVersion when the secret does not have it, even after a reload)."""
    value = secret_store.get_json(ENV, require=name)
    if name not in value:
        raise UnknownVersion(name)
    encoded = str(value[name])
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def versioned(family: str, version: str | None = None) -> tuple[str, bytes]:
    """(version name, key): `version`, or the current one when None."""
    chosen = version or current(family)
    return chosen, key(chosen)


def settled(family: str) -> str:
    """The newest version every running process knows: added more than SETTLE_S ago (v1 and versions without a
    date were there at deploy). Values looked up by their keyed form (blind indexes, whose version a lookup cannot
    know in advance) are written under it, so a process whose cache predates a rotation still finds them."""
    value = secret_store.get_json(ENV)
    found = names(family, value)
    if not found:
        raise UnknownVersion(f"{family}: no version in the Peppers secret")
    created = value.get(CREATED) or {}
    horizon = clock.timestamp() - SETTLE_S
    for name in found:
        stamp = created.get(name)
        if stamp is None or datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() <= horizon:
            return name
    return found[-1]
