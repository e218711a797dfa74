"""The one pagination cursor codec: an opaque, urlsafe token over a few short text fields, validated on the way in."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

MAX_FIELDS = 4
MAX_VALUE = 1024
MAX_LENGTH = 8192  # a cursor longer than any we issue is refused before it is decoded
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class InvalidCursor(Exception):
    """A pagination cursor that this query did not issue (or that was tampered with)."""


def encode(fields: Mapping[str, str]) -> str:
    """An opaque cursor naming where the next page starts (urlsafe base64 of a compact JSON object, unpadded)."""
    text = json.dumps(dict(fields), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, *, keys: frozenset[str] | set[str] | None = None) -> dict[str, str]:
    """The fields of a cursor this codec issued; InvalidCursor for anything else.

    `keys`, when given, is the exact set of field names the query issues: a cursor with other fields is another
    query's (or forged).
    """
    if not cursor or len(cursor) > MAX_LENGTH or not _ALPHABET.fullmatch(cursor):
        raise InvalidCursor("unreadable cursor")
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("unreadable cursor") from None
    if not isinstance(plain, dict) or not plain or len(plain) > MAX_FIELDS:
        raise InvalidCursor("malformed cursor")
    if not all(isinstance(k, str) and isinstance(v, str) and len(v) < MAX_VALUE for k, v in plain.items()):
        raise InvalidCursor("malformed cursor")
    if keys is not None and set(plain) != set(keys):
        raise InvalidCursor("a cursor with other keys")
    return plain
