"""Finding 11: every way people write STOP opts out (normalised, when in doubt), on every carrier, locally too."""

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.messages_api import handler as messages_api
from switchboard.logic import keywords
from tests.integration.messaging.conftest import Account
from tests.security import local_stack
from tests.security.consent_support import inbound, ledger, recipient, record, state

FULLWIDTH_STOP = "\uff33\uff34\uff2f\uff30"
# The finding's own variants first, then the classes they stand for.
OPT_OUTS = [
    "STOP.",
    "Stop!",
    "STOP please",
    FULLWIDTH_STOP,
    "\u200bSTOP\u200b",
    "S T O P",
    "unsubscribe me",
    # compatibility forms (NFKC/NFKD): fullwidth small, mathematical, double-struck, circled, superscript, ligature-free
    "\uff53\uff54\uff4f\uff50",
    "\U0001d412\U0001d413\U0001d40e\U0001d40f",
    "\U0001d54a\U0001d54b\U0001d546\u2119",
    "\u24c8\u24e3\u24de\u24df",
    "\u02e2\u1d57\u1d52\u1d56",
    # invisible and format characters: ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen, bidi marks and overrides,
    # isolates, a tag character, a variation selector, combining strikethrough, a Hangul filler
    "S\u200cT\u200dO\u2060P",
    "\ufeffSTOP",
    "ST\u00adOP",
    "\u200fSTOP\u200e",
    "\u202eSTOP\u202c",
    "\u2066STOP\u2069",
    "STOP\U000e0041",
    "STOP\ufe0f",
    "S\u0336T\u0336O\u0336P\u0336",
    "\u3164STOP",
    "\u034fS\u200bT\u200bO\u200bP",
    # look-alike letters from Cyrillic
    "\u0405\u0422\u041e\u0420",
    # whitespace
    "  stop  ",
    "\tSTOP\r\n",
    "\u00a0STOP\u3000",
    "S  T  O  P",
    "S\u2003T\u2003O\u2003P",
    # punctuation
    "STOP!!!",
    "\u00a1STOP!",
    '"STOP"',
    "\u201cSTOP\u201d",
    "(stop)",
    "[STOP]",
    "*STOP*",
    "S.T.O.P.",
    "S-T-O-P",
    "stop...",
    "STOP?!",
    "\u00bfstop?",
    "-- stop --",
    # case
    "sToP",
    "stop",
    "Stop",
    # emoji after or before
    "STOP \U0001f6d1",
    "stop\U0001f64f",
    "STOP \u270b\U0001f3fd",
    "\U0001f6d1 STOP",
    "STOP \U0001f1fa\U0001f1f8",
    # the other keywords, and phrases that ask to stop
    "STOPALL",
    "stop all",
    "Unsubscribe",
    "UNSUB",
    "cancel",
    "End.",
    "quit!",
    "opt out",
    "opt-out",
    "OPTOUT",
    "Revoke",
    "remove me",
    "Arr\u00eat",
    "ARRET",
    "please stop",
    "pls STOP",
    "ok stop",
    "Stop texting me",
    "stop sending me messages",
    "STOP STOP STOP",
    "Opt me out",
    "Do not text me",
    "don't text me",
    "Don\u2019t message me",
    "dont contact me ever again",
    "leave me alone",
    "no more texts",
    "S T O P I T",
]
# Messages that mention a keyword but ask for no opt-out: the first word is not one, and no opt-out phrase.
NOT_OPT_OUTS = [
    "Don't stop",
    "Please don't stop the updates",
    "I can't stop smiling",
    "Non-stop deals?",
    "Stopwatch",
    "unstoppable",
    "Bus stop at 5",
    "What time does it end?",
    "The end",
    "Thanks!",
    "When will it stop raining",
    "stopped by the store",
    "tops",
    "spot",
    "post",
    "hello",
    "",
    "\u200b",
    "\U0001f6d1",
]

_FORMS = {
    "s": ["s", "S", "\uff33", "\uff53", "\U0001d412", "\u24c8", "\u0405", "\u0455"],
    "t": ["t", "T", "\uff34", "\uff54", "\U0001d413", "\u24e3", "\u0422"],
    "o": ["o", "O", "\uff2f", "\uff4f", "\U0001d40e", "\u24de", "\u041e", "\u043e", "\u039f", "\u03bf"],
    "p": ["p", "P", "\uff30", "\uff50", "\U0001d40f", "\u24df", "\u0420", "\u0440", "\u03a1"],
}
_INVISIBLE = ["", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202e", "\u2066"]
_AROUND = ["", " ", "  ", "\t", "\u3000", ".", "!", "?", "...", '"', "\u201c", "(", "*", "\U0001f6d1", "\U0001f64f"]


@st.composite
def written_stop(draw: st.DrawFn) -> str:
    """STOP as people and phones write it: each letter in any form, invisible characters between, spacing or
    punctuation around, sometimes spelt out letter by letter."""
    gap = draw(st.sampled_from(["", " ", ".", "-"]))
    letters = [
        draw(st.sampled_from(_FORMS[c])) + "".join(draw(st.lists(st.sampled_from(_INVISIBLE), max_size=2)))
        for c in "stop"
    ]
    before = "".join(draw(st.lists(st.sampled_from(_AROUND + _INVISIBLE), max_size=3)))
    after = "".join(draw(st.lists(st.sampled_from(_AROUND + _INVISIBLE), max_size=3)))
    return before + gap.join(letters) + after


@pytest.mark.parametrize("body", OPT_OUTS)
def test_every_written_form_of_an_opt_out_opts_out(body: str) -> None:
    assert keywords.classify(body) == "stop", keywords.normalise(body)


@pytest.mark.parametrize("body", NOT_OPT_OUTS)
def test_a_keyword_that_is_not_an_opt_out_request_does_not_opt_out(body: str) -> None:
    assert keywords.classify(body) != "stop", keywords.normalise(body)


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=written_stop())
def test_any_text_whose_normal_form_is_stop_opts_out(body: str) -> None:
    assert keywords.normalise(body) == ["stop"]
    assert keywords.classify(body) == "stop"


@settings(derandomize=True, max_examples=200, deadline=None)
@given(body=written_stop(), rest=st.text(max_size=40), separator=st.sampled_from([" ", "\n", ", ", "! "]))
def test_stop_followed_by_anything_opts_out(body: str, rest: str, separator: str) -> None:
    assert keywords.classify(body + separator + rest) == "stop"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(body=st.text(max_size=60))
def test_normalising_is_stable_and_a_normal_form_of_stop_always_opts_out(body: str) -> None:
    words = keywords.normalise(body)
    assert keywords.normalise(" ".join(words)) == words
    if words[:1] == ["stop"]:
        assert keywords.classify(body) == "stop"


def test_variants_opt_out_through_the_carrier_events_route_on_any_carrier(account: Account) -> None:
    """Each sender on sandbox-a; half the STOPs arrive through sandbox-b: the opt-out is the channel's."""
    variants = [*OPT_OUTS[:7], "\u2066\uff53\uff54\uff4f\uff50\u2069 \U0001f6d1", "Stop texting me"]
    people = {f"+1415555{n:04d}": body for n, body in enumerate(variants, start=100)}
    ids = {phone: recipient(account, phone) for phone in people}
    kept = recipient(account, "+14155550099")
    for rid in [*ids.values(), kept]:
        assert record(account, rid, "sms", "opted_in", "web_form").status == 201
    for n, (phone, body) in enumerate(people.items()):
        inbound(account, body, phone=phone, carrier=("sandbox-a", "sandbox-b")[n % 2])
    for body in NOT_OPT_OUTS[:4]:
        inbound(account, body, phone="+14155550099")
    for phone, rid in ids.items():
        assert state(account, rid)["sms"] == "opted_out", people[phone]
        assert ledger(account, rid)[-1]["source"] == "keyword"
        refused = account.call(messages_api, "POST", "/v1/messages", {"to": phone, "channel": "sms", "body": "hi"})
        assert (refused.status, refused.body["code"]) == (422, "consent_required")
    assert state(account, kept)["sms"] == "opted_in"


@pytest.fixture(scope="module")
def stack() -> Iterator[local_stack.Client]:
    yield from local_stack.running()


def test_a_disguised_stop_holds_on_the_local_stack(stack: local_stack.Client) -> None:
    phone = "+14155550177"
    status, made = stack.json("POST", "/v1/recipients", {"phone": phone})
    assert status == 201, made
    rid = made["id"]
    consent: dict[str, Any] = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert stack.json("POST", f"/v1/recipients/{rid}/consents", consent)[0] == 201
    sender = next(s["number"] for s in stack.json("GET", "/v1/account")[1]["senders"] if s["channel"] == "sms")
    for body in ("\u200b" + FULLWIDTH_STOP + "!", "START"):
        status, answer = stack.json(
            "POST", "/_local/carriers/sandbox-b/inbound", {"from": phone, "to": sender, "body": body}, auth=False
        )
        assert status == 200, answer
        if body == "START":
            break
        assert stack.json("GET", f"/v1/recipients/{rid}")[1]["consent"]["sms"] == "opted_out"
        message = {"to": phone, "channel": "sms", "body": "hi"}
        assert stack.json("POST", "/v1/messages", message)[1]["code"] == "consent_required"
        status, refused = stack.json("POST", f"/v1/recipients/{rid}/consents", consent)
        assert (status, refused["code"]) == (409, "opted_out_by_recipient")
        status, forged = stack.json("POST", f"/v1/recipients/{rid}/consents", {**consent, "source": "keyword"})
        assert (status, forged["code"], forged["errors"][0]["pointer"]) == (422, "consent_source_reserved", "/source")
    # The person's START restores the opt-in they had.
    entries = stack.json("GET", f"/v1/recipients/{rid}/consents")[1]["data"]
    assert [(e["status"], e["source"]) for e in entries] == [
        ("opted_in", "web_form"),
        ("opted_out", "keyword"),
        ("opted_in", "keyword"),
    ]
    assert stack.json("POST", "/v1/messages", {"to": phone, "channel": "sms", "body": "hi"})[0] == 202
