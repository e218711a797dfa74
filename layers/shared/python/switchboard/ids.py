"""Prefixed, time-sortable, random identifiers (`msg_…`): 48-bit millisecond time + 80 random bits, base32."""

from __future__ import annotations

import secrets

from switchboard import clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i, l, o, u


def new_id(prefix: str) -> str:
    """A new id such as `msg_01jd7x…` whose string order follows creation time."""
    value = (int(clock.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def first_id_at(prefix: str, epoch_s: float) -> str:
    """The smallest id `new_id(prefix)` can make at `epoch_s`: every id made earlier sorts below it."""
    value = int(epoch_s * 1000) << 80
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"
