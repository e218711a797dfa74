"""Payment card numbers in free text (R70): Luhn-valid 13-19 digits under any separators, digit forms or escapes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic_core import PydanticCustomError

MIN_DIGITS = 13
MAX_DIGITS = 19
MAX_E164_DIGITS = 15
# Between two digit groups of one number: at most this many separator characters ("4242 - 4242", double spaces).
MAX_GAP = 4
# Besides whitespace, invisible (format) and control characters and every dash (Unicode Pd): what people and
# forms put between digit groups (dots, slashes, underscores, middle dots and bullets, minus, fraction slash).
_SEPARATORS = frozenset("./\\_\u00b7\u2022\u2027\u2044\u2212\u2215\u2219\u22c5\u30fb")
_PAIR = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SHORT = re.compile(r"\\([\"\\/bfnrt])")
_SHORT_VALUES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_DIGITS = frozenset("0123456789")
CODE = "card_data_refused"
MESSAGE = "looks like a payment card number: we never take card data (R70)"

T = TypeVar("T")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _unescape(text: str) -> str:
    """JSON string escapes (`\\u0034`, surrogate pairs, `\\/`, ...) decoded, as a raw body or a re-encoded value has."""

    def pair(match: re.Match[str]) -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    text = _PAIR.sub(pair, text)
    # A lone surrogate is no character: it separates nothing and holds no digit.
    text = _ESCAPE.sub(lambda m: "" if 0xD800 <= int(m.group(1), 16) <= 0xDFFF else chr(int(m.group(1), 16)), text)
    return _SHORT.sub(lambda m: _SHORT_VALUES[m.group(1)], text)


def normalise(text: str) -> str:
    """Escapes decoded (twice: a value may be escaped once more than its body), NFKC, every decimal digit ASCII."""
    if "\\" in text:
        text = _unescape(_unescape(text))
    text = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text)


def _is_separator(char: str) -> bool:
    return char in _SEPARATORS or char.isspace() or unicodedata.category(char) in {"Pd", "Cf", "Cc", "Zs", "Zl", "Zp"}


def _chains(text: str) -> Iterator[tuple[bool, list[str]]]:
    """Runs of digit groups joined by short separator runs; and whether the run follows a `+` (a phone number)."""
    groups: list[str] = []
    plus = False
    position, length = 0, len(text)
    while position < length:
        if text[position] not in _DIGITS:
            position += 1
            continue
        start = position
        while position < length and text[position] in _DIGITS:
            position += 1
        if not groups:
            plus = start > 0 and text[start - 1] == "+"
        groups.append(text[start:position])
        gap_end = position
        while gap_end < length and gap_end - position <= MAX_GAP and _is_separator(text[gap_end]):
            gap_end += 1
        if gap_end < length and text[gap_end] in _DIGITS and 0 < gap_end - position <= MAX_GAP:
            position = gap_end  # the same number continues after the separators
            continue
        yield plus, groups
        groups = []
        position = gap_end
    if groups:
        yield plus, groups


def _has_card(plus: bool, groups: list[str]) -> bool:
    if plus and sum(map(len, groups)) <= MAX_E164_DIGITS:
        return False  # an international phone number (E.164 has at most 15 digits): no card starts with +
    for first in range(len(groups)):
        digits = ""
        for group in groups[first:]:
            digits += group
            if len(digits) > MAX_DIGITS:
                break
            if len(digits) >= MIN_DIGITS and luhn_valid(digits):
                return True
    return False


def contains_card_number(text: str) -> bool:
    """True when `text` holds a Luhn-valid 13-19 digit number, whatever digits, separators or JSON escapes it uses.

    The number may be split into groups anywhere, by up to four separator characters each (spaces of any kind,
    dashes, dots, slashes, underscores, invisible characters); a longer digit run is an id, not a card, and a run
    after `+` of at most 15 digits is a phone number.
    """
    return any(_has_card(plus, groups) for plus, groups in _chains(normalise(text)))


def contains_card_number_in(value: Any) -> bool:
    """`contains_card_number` over every string, number and object key of a JSON-like value."""
    if isinstance(value, str):
        return contains_card_number(value)
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return contains_card_number(str(value))
    if isinstance(value, dict):
        return any(contains_card_number_in(k) or contains_card_number_in(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_card_number_in(item) for item in value)
    return False


def screen(value: T) -> T:
    """A pydantic (before-)validator for free text the API stores: a card number is a 422 `card_data_refused`."""
    if contains_card_number_in(value):
        raise PydanticCustomError(CODE, MESSAGE)
    return value
