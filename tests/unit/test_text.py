"""Lone surrogates: found with a JSON pointer (keys and values, any depth), repaired for reads, never a crash."""

import json
from typing import Any

import pytest
from pydantic import BaseModel

from switchboard import api
from switchboard.text import REPLACEMENT, has_lone_surrogate, lone_surrogate_pointer, repaired


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"a": "\ud800"}, "/a"),
        ({"a": ["ok", {"b": "x\udfffy"}]}, "/a/1/b"),
        ({"a": {"\udc00k": 1}}, f"/a/{REPLACEMENT}k"),
        ({"a/b": {"c~d": "\udbff"}}, "/a~1b/c~0d"),
        (["\ud800"], "/0"),
        ("\udc00", ""),
        ({"a": "\U0001f600", "b": ["\u00e9", 1, None, 2.5]}, None),
    ],
)
def test_the_pointer_names_the_one_place_holding_a_lone_surrogate(document: Any, pointer: str | None) -> None:
    assert lone_surrogate_pointer(document) == pointer


def test_a_decoded_pair_is_one_character_and_two_lone_halves_are_not() -> None:
    assert not has_lone_surrogate(json.loads('"\\ud83d\\ude00"'))
    assert has_lone_surrogate(json.loads('"\\ude00\\ud83d"'))


def test_repaired_replaces_in_names_and_values_at_any_depth_and_keeps_clean_values() -> None:
    dirty = {"\udc00": ["a\ud800b", {"k": ("\udfff",)}], "n": 1}
    assert repaired(dirty) == {REPLACEMENT: [f"a{REPLACEMENT}b", {"k": (REPLACEMENT,)}], "n": 1}
    clean = {"a": ["b"]}
    assert repaired(clean) == clean
    text = "plain"
    assert repaired(text) is text


class Stored(BaseModel):
    name: str
    attributes: dict[str, Any]


def test_an_answer_holding_a_stored_surrogate_is_sent_repaired_not_a_500() -> None:
    # A record saved before the API refused surrogates: pydantic cannot encode it as UTF-8 JSON.
    response = api.json_response(200, Stored(name="A\ud800", attributes={"\udc00": "x\udfff"}))
    body = response.body if isinstance(response.body, str) else ""
    body.encode("utf-8")
    sent = json.loads(body)
    assert sent["name"] == f"A{REPLACEMENT}"
    # pydantic already writes a bad name as U+FFFD per UTF-8 byte it could not encode; values are repaired here.
    [(name, value)] = sent["attributes"].items()
    assert (set(name), value) == ({REPLACEMENT}, f"x{REPLACEMENT}")
