"""F09 (R70): a card number in any free-text field the API stores is a 422 `card_data_refused`, and nothing is stored.

The class: Luhn-valid 13-19 digit numbers split by any separators (spaces of every kind, double spaces, dots,
slashes, dashes, underscores, invisible characters, mixed), written in any Unicode digits, or JSON-escaped
(`\\u0034`) in the raw body, in signup's account name, API key names, recipients (name, attribute keys and values),
list names, consent evidence and billing events. Message bodies are out of scope (R70 exempts them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from pydantic import BaseModel, ValidationError

from switchboard import cards, clock
from switchboard.models.api_keys import ApiKeyIn
from switchboard.models.identity import SignupIn
from switchboard.models.recipients import Evidence, ListIn, RecipientIn
from tests.integration.conftest import _handlers_run_as_deployed, aws
from tests.integration.identity.conftest import identity
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.test_billing import _billing_items, _event, _post, secret

__all__ = ["_handlers_run_as_deployed", "aws", "identity", "secret"]  # fixtures

CARDS = [
    "4242424242424242",
    "378282246310005",
    "4222222222222",
    "6011000990139424",
    "3530111333300000",
    "6212345678901234569",
]
SEPARATORS = [
    " ",
    "  ",
    "\u00a0",  # no-break space
    "\u2007",  # figure space
    "\u202f",  # narrow no-break space
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\t",
    ".",
    "/",
    "-",
    "\u2013",  # en dash
    "_",
    "\u00b7",  # middle dot
    " - ",
    "._",
]
DIGIT_FORMS = {
    "fullwidth": 0xFF10,
    "arabic-indic": 0x0660,
    "devanagari": 0x0966,
    "mathematical bold": 0x1D7CE,
}


def _grouped(card: str, separator: str, size: int = 4) -> str:
    return separator.join(card[i : i + size] for i in range(0, len(card), size))


def _digits(card: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) for d in card)


def variants(card: str) -> list[str]:
    """The card as an attacker (or a careless customer) could write it into a text field."""
    written = [card, f"card {card} exp 12/30"]
    written += [_grouped(card, sep) for sep in SEPARATORS]
    written += [_grouped(card, sep, 1) for sep in (" ", ".", "_")]  # a separator between every digit
    written.append("".join(d + SEPARATORS[n % len(SEPARATORS)] for n, d in enumerate(card)).strip())  # mixed
    written += [_digits(card, zero) for zero in DIGIT_FORMS.values()]
    written.append(_grouped(_digits(card, DIGIT_FORMS["fullwidth"]), "\u3000"))
    written.append("".join(f"\\u{ord(d):04x}" for d in card))  # a value that still holds JSON escapes
    return written


def _raw_escaped(body: dict[str, Any], card: str) -> str:
    """`body` as JSON with every digit of `card` written as a `\\u003X` escape: what arrives before decoding."""
    raw = json.dumps(body)
    escaped = "".join(f"\\u{ord(d):04x}" for d in card)
    return raw.replace(card, escaped)


@pytest.mark.parametrize("card", CARDS)
def test_every_written_form_of_a_card_number_is_detected(card: str) -> None:
    assert cards.luhn_valid(card)
    for text in variants(card):
        assert cards.contains_card_number(text), repr(text)
    assert cards.contains_card_number(_raw_escaped({"name": card}, card))
    assert cards.contains_card_number_in({"attributes": {"n": int(card)}})
    assert cards.contains_card_number_in({card: "key"})


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails Luhn
        "Order 12345 shipped on 2024-01-02 at 10:00:00, call +44 20 7946 0958 or (415) 555-2671.",
        "+14155552671 and +442079460958 and +861012345678",
        "12345678901234567890123",  # an id, longer than any card
        "room 12, floor 3, building 4242",
        "2024-01-02T10:00:00Z",
        "Version 1.2.3.4 of 2024/05/06",
    ],
)
def test_ordinary_text_is_not_a_card_number(text: str) -> None:
    assert not cards.contains_card_number(text)


def _counts() -> dict[str, int]:
    """Items per table, but for Limits and Audit (rate counters and audit events count refused requests too)."""
    client = boto3.client("dynamodb")
    names = client.list_tables()["TableNames"]
    return {n: client.scan(TableName=n)["Count"] for n in names if not n.endswith(("-Limits", "-Audit"))}


def _assert_no_card_stored() -> None:
    """Raw scan of every table: no card's digits anywhere, whatever encoding or separators they were sent in."""
    client = boto3.client("dynamodb")
    for name in client.list_tables()["TableNames"]:
        for item in client.scan(TableName=name)["Items"]:
            digits = re.sub(r"\D", "", cards.normalise(json.dumps(item, default=str, ensure_ascii=False)))
            for card in CARDS:
                assert card not in digits, (name, item)


def _refused(answer: Any, what: str) -> None:
    assert answer.status == 422, (what, answer.status, answer.body)
    assert answer.body["code"] == "card_data_refused", (what, answer.body)
    assert answer.body["errors"], what


FIELDS: list[tuple[type[BaseModel], str, Callable[[str], dict[str, Any]]]] = [
    (SignupIn, "account_name", lambda t: {"email": "a@b.example", "password": "x" * 15, "account_name": t}),
    (ApiKeyIn, "name", lambda t: {"name": t, "role": "viewer"}),
    (RecipientIn, "name", lambda t: {"phone": "+14155552671", "name": t}),
    (RecipientIn, "attribute value", lambda t: {"phone": "+14155552671", "attributes": {"note": t}}),
    (RecipientIn, "attribute name", lambda t: {"phone": "+14155552671", "attributes": {t: "x"}}),
    (ListIn, "name", lambda t: {"name": t}),
    (Evidence, "user_agent", lambda t: {"user_agent": t}),
    (Evidence, "text_version", lambda t: {"text_version": t}),
]


@pytest.mark.parametrize(("model", "field", "body"), FIELDS, ids=[f"{m.__name__}.{f}" for m, f, _ in FIELDS])
def test_every_stored_free_text_field_refuses_every_written_form(
    model: type[BaseModel], field: str, body: Callable[[str], dict[str, Any]]
) -> None:
    for card in CARDS:
        for text in variants(card):
            with pytest.raises(ValidationError) as refused:
                model.model_validate(body(text))
            types = {e["type"] for e in refused.value.errors()}
            assert "card_data_refused" in types, (field, text, types)
    model.model_validate(body("Ada 42"))  # ordinary text passes


def _endpoints(token: str, consents: str) -> list[Callable[[str], Any]]:
    """Every route that stores free text, each taking the text to send."""
    password = "a long enough passphrase 7"
    return [
        lambda t: call("POST", "/v1/signup", {"email": "v@cards.example", "password": password, "account_name": t}),
        lambda t: call("POST", "/v1/api-keys", {"name": t, "role": "viewer"}, token=token),
        lambda t: call("POST", "/v1/recipients", {"phone": "+14155552672", "name": t}, token=token),
        lambda t: call("POST", "/v1/recipients", {"phone": "+14155552672", "attributes": {"n": t}}, token=token),
        lambda t: call("POST", "/v1/lists", {"name": t}, token=token),
        lambda t: call(
            "POST",
            consents,
            {"channel": "sms", "status": "opted_in", "source": "web_form", "evidence": {"user_agent": t}},
            token=token,
        ),
    ]


def test_card_numbers_in_stored_free_text_are_422_and_nothing_is_stored(identity: dict[str, str]) -> None:
    register("owner@cards.example")
    token = login("owner@cards.example")
    recipient = call("POST", "/v1/recipients", {"phone": "+14155552671", "name": "Ada"}, token=token)
    assert recipient.status == 201, recipient.body
    endpoints = _endpoints(token, f"/v1/recipients/{recipient.body['id']}/consents")
    before = _counts()
    sent = 0
    # Each route gets the plain number and a few forms; every form of every card reaches one route (round robin):
    # the model test above covers every form on every field, this one that the routes answer and store nothing.
    for card in (CARDS[0], CARDS[-1]):  # 16 and 19 digits; the model test runs every card on every field
        for text in [card, _grouped(card, "."), _grouped(card, "\u00a0"), *variants(card)]:
            clock.advance(1)  # pace like a client: the rate limits are not under test
            send = endpoints[sent % len(endpoints)]
            _refused(send(text), f"route {sent % len(endpoints)} {text!r}")
            sent += 1
        number = {"phone": "+14155552672", "attributes": {"n": int(card)}}
        _refused(call("POST", "/v1/recipients", number, token=token), f"number {card}")
        raw = _raw_escaped({"phone": "+14155552672", "name": card}, card)
        _refused(call("POST", "/v1/recipients", raw=raw, token=token), f"escaped {raw}")
        raw_signup = {"email": "victim@cards.example", "password": "a long enough passphrase 7", "account_name": card}
        _refused(call("POST", "/v1/signup", raw=_raw_escaped(raw_signup, card)), "escaped signup")
    assert _counts() == before
    _assert_no_card_stored()


def test_card_numbers_in_billing_events_are_422_and_nothing_is_stored(secret: str) -> None:
    register("billing@cards.example")
    token = login("billing@cards.example")
    account_id = call("GET", "/v1/account", token=token).body["id"]
    for card in CARDS:
        for text in variants(card):
            event = _event(account_id, plan="pro")
            event["data"]["object"]["metadata"]["note"] = text
            _refused(_post(secret, event), f"billing {text!r}")
        event = _event(account_id, plan="pro")
        event["data"]["object"]["metadata"]["note"] = card
        _refused(_post(secret, _raw_escaped(event, card)), "escaped billing event")
        event["data"]["object"]["metadata"]["note"] = int(card)
        _refused(_post(secret, event), "a card as a JSON number")
    assert _billing_items() == []
    _assert_no_card_stored()
