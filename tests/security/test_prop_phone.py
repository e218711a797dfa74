"""Property: any string either parses to a valid E.164 number that reads back unchanged, or is refused with
InvalidPhone (a 422 at the API), never another exception or a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import clock
from switchboard.crypto import envelope
from switchboard.models.recipients import InvalidPhone, parse_phone
from tests.integration.conftest import Context, _handlers_run_as_deployed, aws, rest_event
from tests.integration.messaging.conftest import queues

__all__ = ["_handlers_run_as_deployed", "aws", "queues"]  # fixtures

E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
# Real numbers of every region phonenumbers knows (mobile and fixed line), to mutate: most random strings are
# refused early, these reach the numbering-plan check.
EXAMPLES = sorted(
    {
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)
UNICODE_DIGITS = [0x0660, 0x06F0, 0x0966, 0xFF10, 0x1D7CE]  # Arabic-Indic, Persian, Devanagari, fullwidth, bold


def _changed(number: str, how: str, position: int, draw: st.DrawFn) -> str:
    changes = {
        "drop": lambda: number[:position] + number[position + 1 :],
        "insert": lambda: (
            number[:position] + draw(st.sampled_from("0123456789 -.()\u00a0\u200b\n/")) + number[position:]
        ),
        "replace": lambda: number[:position] + draw(st.characters()) + number[position + 1 :],
        "unicode": lambda: "+" + "".join(chr(draw(st.sampled_from(UNICODE_DIGITS)) + int(d)) for d in number[1:]),
        "space": lambda: draw(st.sampled_from([" ", "\t", "\u3000", "\n"])) + number + draw(st.sampled_from(["", " "])),
        "trunk": lambda: number[:3] + "0" + number[3:],
        "prefix": lambda: draw(st.sampled_from(["00", "", "++", "+0", "tel:"])) + number.lstrip("+"),
    }
    return changes[how]() if how in changes else number


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real number, changed the way a typo, a form or an attacker would change it."""
    number = draw(st.sampled_from(EXAMPLES))
    how = draw(st.sampled_from(["as is", "drop", "insert", "replace", "unicode", "space", "trunk", "prefix"]))
    return _changed(number, how, draw(st.integers(1, len(number) - 1)), draw)


PHONES = st.one_of(st.text(max_size=24), st.from_regex(r"\+[0-9]{1,16}", fullmatch=True), mutated())


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(PHONES)
def test_any_string_parses_to_e164_that_round_trips_or_is_refused(raw: str) -> None:
    try:
        phone = parse_phone(raw)
    except InvalidPhone:
        return  # the only refusal: a ValueError the models and logic turn into 422
    assert E164.fullmatch(phone.e164), (raw, phone)
    assert phone.e164 == raw.strip(), (raw, phone)  # what was written is what is stored: no silent rewriting
    assert parse_phone(phone.e164) == phone
    parsed = phonenumbers.parse(phone.e164, None)
    assert phonenumbers.is_valid_number(parsed)
    assert phone.country == (phonenumbers.region_code_for_number(parsed) or "ZZ")


@pytest.mark.parametrize("number", EXAMPLES[::7])
def test_real_numbers_of_every_region_parse(number: str) -> None:
    assert parse_phone(number).e164 == number


def _post(module: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = rest_event("POST", path, json.dumps(body))
    event["headers"]["Content-Type"] = "application/json"
    event["requestContext"]["authorizer"] = {
        "principalId": "key_1",
        "account_id": "acct_phone",
        "principal": "key_1",
        "role": "developer",
        "credential": "api_key",
        "session_id": "",
        "key_id": "key_1",
        "plan": "pro",
        "mode": "live",
        "auth_at": "",
    }
    clock.advance(0.5)  # pace like a client: the rate limits are not under test
    result = module.lambda_handler(event, Context())
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else {}


@pytest.fixture
def phone_account(queues: Any) -> None:
    envelope.create_key("acct_phone")


@settings(
    max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(PHONES)
def test_any_phone_at_the_api_is_stored_as_written_or_422_never_500(phone_account: None, raw: str) -> None:
    status, body = _post(recipients_api, "/v1/recipients", {"phone": raw})
    assert status in {201, 409, 422}, (raw, status, body)
    if status == 201:
        assert body["phone"] == raw.strip()
    else:
        assert body["code"] in {"duplicate_recipient", "invalid_phone", "validation_failed"}, (raw, body)
    status, body = _post(messages_api, "/v1/messages", {"to": raw, "channel": "sms", "body": "hi"})
    assert status < 500, (raw, status, body)
    assert status == 422 or E164.fullmatch(raw.strip()), (raw, status, body)
