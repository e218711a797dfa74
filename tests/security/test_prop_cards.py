"""Property (R70): every Luhn-valid 13-19 digit number is detected however it is written, as text, in a raw JSON body
and after JSON decoding; ordinary text with short digit runs, phone numbers and dates is not."""

from __future__ import annotations

import json
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard import cards

# The zero of every Unicode decimal digit family (Nd): Arabic-Indic, Devanagari, fullwidth, mathematical, ...
ZEROS = [c for c in range(sys.maxunicode + 1) if unicodedata.decimal(chr(c), None) == 0]
SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"  # not Nd: NFKC makes them digits
SEPARATORS = (
    " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\n"  # spaces
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # invisible
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"  # dashes and minus
    "./\\_\u00b7\u2022\u2024\u2027\u2044\u2215\u2219\u22c5\u30fb\uff0e\uff0f\uff3f"  # dots, slashes, underscores
)


def _luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid."""
    return next(body + d for d in "0123456789" if cards.luhn_valid(body + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return _luhn_complete(body)


@st.composite
def written(draw: st.DrawFn, number: str) -> str:
    """`number` split anywhere, by separator runs of 1-4 characters, each digit in any Unicode form."""
    out = []
    digit_form = draw(st.sampled_from(["ascii", "one family", "mixed"]))
    family = draw(st.sampled_from(ZEROS))
    for position, digit in enumerate(number):
        form = digit_form if digit_form != "mixed" else draw(st.sampled_from(["ascii", "family", "super"]))
        if form == "ascii":
            out.append(digit)
        elif form == "super":
            out.append(SUPERSCRIPTS[int(digit)])
        else:
            zero = family if digit_form == "one family" else draw(st.sampled_from(ZEROS))
            out.append(chr(zero + int(digit)))
        if position < len(number) - 1 and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.text(alphabet=SEPARATORS, min_size=1, max_size=cards.MAX_GAP)))
    return "".join(out)


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


AROUND = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,:;!?()\"'", max_size=12)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(data=st.data(), number=card_numbers(), before=AROUND, after=AROUND)
def test_a_luhn_valid_number_is_detected_however_written(
    data: st.DataObject, number: str, before: str, after: str
) -> None:
    text = before + data.draw(written(number)) + after
    assert cards.contains_card_number(text), (number, text)
    body = json.dumps({"note": text, "n": 1})
    assert cards.contains_card_number(body)  # the raw body, non-ASCII escaped by json.dumps
    assert cards.contains_card_number_in(json.loads(body))  # after decoding
    assert cards.contains_card_number(json.dumps({"note": text}, ensure_ascii=False))
    fully_escaped = '{"note": "' + "".join(f"\\u{u:04x}" for u in _utf16_units(text)) + '"}'
    assert cards.contains_card_number(fully_escaped), fully_escaped  # every character escaped, digits too
    assert cards.contains_card_number_in(json.loads(fully_escaped))


@settings(max_examples=100, derandomize=True, deadline=None)
@given(number=card_numbers().filter(lambda n: n[0] != "0"))  # a JSON number has no leading zeros (nor has a PAN)
def test_a_card_as_a_json_number_is_detected(number: str) -> None:
    assert cards.contains_card_number_in({"amount": int(number)})
    assert cards.contains_card_number(json.dumps({"amount": int(number)}))


WORDS = st.sampled_from(
    ["order", "shipped", "on", "at", "call", "or", "ref", "room", "floor", "Ada", "total", "is", "from", "to", "the"]
)
COUNTRY_CODES = ["1", "44", "33", "49", "86", "91", "234", "971", "55", "7"]


@st.composite
def phone(draw: st.DrawFn) -> str:
    """A phone number as people write it: E.164 with `+` (any grouping), or a national form of at most 11 digits."""
    if draw(st.booleans()):
        code = draw(st.sampled_from(COUNTRY_CODES))
        rest = draw(st.text(alphabet="0123456789", min_size=6, max_size=15 - len(code)))
        sep = draw(st.sampled_from(["", " ", "-", ".", "\u00a0"]))
        groups = [rest[i : i + 3] for i in range(0, len(rest), 3)]
        return f"+{code}{sep}" + sep.join(groups)
    area = draw(st.text(alphabet="0123456789", min_size=3, max_size=4))
    line = draw(st.text(alphabet="0123456789", min_size=6, max_size=7))
    return f"({area}) {line[:3]}-{line[3:]}"


@st.composite
def date(draw: st.DrawFn) -> str:
    y, m, d = draw(st.integers(1900, 2099)), draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hh, mm, ss = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    return draw(
        st.sampled_from(
            [
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}/{m:02d}/{y}",
                f"{d}.{m}.{y}",
                f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
                f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
                f"{m}/{d}/{y % 100:02d} {hh}:{mm:02d}",
            ]
        )
    )


SHORT_NUMBER = st.integers(0, 999_999_999_999).map(str) | st.decimals(0, 10**6, places=2).map(str)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(st.lists(st.tuples(WORDS, st.one_of(SHORT_NUMBER, phone(), date(), WORDS)), min_size=1, max_size=8))
def test_ordinary_text_with_short_numbers_phones_and_dates_is_not_a_card(tokens: list[tuple[str, str]]) -> None:
    text = " ".join(f"{word} {token}" for word, token in tokens)
    assert not cards.contains_card_number(text), text
    assert not cards.contains_card_number_in({"note": text})
