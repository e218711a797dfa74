"""Lone surrogates: found (a request carrying one is refused) and repaired (a record stored before that is read)."""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# A high surrogate not followed by a low one, or a low one not preceded by a high one. Python strings decoded from
# JSON `\u` escapes keep a valid pair as one character, so any surrogate left in a str is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: str) -> bool:
    """True when `value` holds a code point no UTF-8 encoder accepts (I-JSON, RFC 7493 §2.1)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def lone_surrogate_pointer(document: Any) -> str | None:
    """The JSON pointer (RFC 6901) of the first string or object name holding a lone surrogate, else None.

    A bad name is pointed at as its member, the name shown with U+FFFD for the surrogate: the pointer itself must
    be text an answer can carry.
    """
    pending: list[tuple[Any, str]] = [(document, "")]
    while pending:
        value, pointer = pending.pop()
        if isinstance(value, dict):
            for name, item in value.items():
                member = f"{pointer}/{_escape(repaired(str(name)))}"
                if isinstance(name, str) and has_lone_surrogate(name):
                    return member
                pending.append((item, member))
        elif isinstance(value, list):
            pending.extend((item, f"{pointer}/{index}") for index, item in enumerate(value))
        elif isinstance(value, str) and has_lone_surrogate(value):
            return pointer
    return None


def repaired(value: Any) -> Any:
    """`value` with every lone surrogate (in strings and object names, at any depth) replaced by U+FFFD.

    For records stored before such input was refused: reading them must never fail. Clean values come back as
    they are (the same object).
    """
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value) if has_lone_surrogate(value) else value
    if isinstance(value, dict):
        return {repaired(k): repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [repaired(item) for item in value]
    if isinstance(value, tuple):
        return tuple(repaired(item) for item in value)
    return value
