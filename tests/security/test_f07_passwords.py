"""Finding 7 (R1, R2): weak passwords are refused with their reason, whatever their disguise.

Famous passphrases, keyboard walks, sequences, repeats, common passwords stretched to length, context words, and
passwords that are all blanks or invisible characters (or padded with them) are refused; the breached check asks a
Pwned Passwords range API (here a fake on loopback) with only a 5-character hash prefix, and fails open, logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard import settings as sb_settings
from switchboard.crypto import breached, passwords
from switchboard.models.errors import ValidationFailed
from tests.loopback import serving

CONTEXT = ("Acme Widgets", "jane.doe@example.com", "jane.doe")


@pytest.fixture(autouse=True)
def _stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.delenv("BREACHED_PASSWORDS_URL", raising=False)
    sb_settings.reload()
    yield
    sb_settings.reload()


def _reason(password: str, context: tuple[str, ...] = CONTEXT) -> str:
    with pytest.raises(ValidationFailed) as raised:
        passwords.check_policy(password, context=context)
    assert raised.value.extra["errors"][0]["message"], "a refusal says why"
    return raised.value.instance_code


ZWSP, NBSP, IDEOGRAPHIC = "\u200b", "\u00a0", "\u3000"
WEAK: dict[str, list[str]] = {
    "password_common": [
        # famous passphrases, in any case, spacing or punctuation, with a short tail
        "correct horse battery staple",
        "Correct Horse Battery Staple",
        "correct-horse-battery-staple!",
        "CorrectHorseBatteryStaple2025",
        "correct\u00a0horse\u00a0battery\u00a0staple",
        "the quick brown fox jumps over the lazy dog",
        "Tr0ub4dor&3Tr0ub4dor&3",
        # keyboard walks (rows, columns, numpad), forwards and backwards
        "qwertyuiopasdfgh",
        "1qaz2wsx3edc4rfv5tgb",
        "zxcvbnmasdfghjkl",
        "poiuytrewqlkjhgf",
        "qazwsxedcrfvtgbyhn",
        "!QAZ@WSX#EDC$RFV",
        # sequences
        "0123456789012345",
        "abcdefghijklmnopqrs",
        "9876543210987654321",
        # repeats of characters or a short pattern
        "aaaaaaaaaaaaaaaa",
        "1" * 20,
        "🙂" * 15,
        "passwordpassword",
        "abcabcabcabcabcabc",
        "iloveyouiloveyou",
        # common passwords stretched to length
        "Password12345678!",
        "password1234567890",
        "monkeymonkey1234",
        # common ones padded with invisible or blank characters between the letters
        ZWSP.join("passwordpassword"),
        NBSP.join("qwertyuiopasdfgh"),
    ],
    "password_too_short": [
        " " * 15,
        " " * 256,
        NBSP * 15,
        ZWSP * 15,
        IDEOGRAPHIC * 20,
        "\t\n\r" * 6,
        "\u2060\ufeff\u200c\u200d" * 5,
        "\u3164" * 16,  # Hangul filler: a "letter" that renders as nothing
        "\u2800" * 16,  # braille blank
        "short" + ZWSP * 20,
        "a b c d e f g h i j k l m n",  # 27 characters, 14 visible
        "x" + "\u0301" * 20,  # one letter under a pile of combining accents
    ],
    "password_context": [
        "AcmeWidgets2025!!!!!",
        "jane.doe!!2025!!2025",
        "Switchboard2026!!!!!",
        "Jane.Doe@Example.com!!",
    ],
}


@pytest.mark.parametrize(("password", "code"), [(p, code) for code, group in WEAK.items() for p in group])
def test_weak_passwords_are_refused_with_their_reason(password: str, code: str) -> None:
    assert _reason(password) == code


STRONG = [
    "lantern quasar velvet plumbing",
    "kxqvbnrtplmwzhd",
    "pass phrase 🙂 ✓ with room",
    "🙂🌵🚲🎻🦉🍋🧭🪁🌋🎲🦔🍄🧩🛶🌙",
    "glacier orbit" + NBSP + "tuba meringue",
    "acme is where I fix old pianos daily",
    "Зелёный кит поёт в тумане",
]


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_pass_without_composition_rules(password: str) -> None:
    passwords.check_policy(password, context=CONTEXT)


INVISIBLE = st.sampled_from([" ", NBSP, ZWSP, IDEOGRAPHIC, "\t", "\u2060", "\ufeff", "\u200d", "\u3164", "\u180e"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(INVISIBLE, min_size=1, max_size=256).map("".join))
def test_any_password_of_blanks_and_invisible_characters_is_too_short(password: str) -> None:
    assert _reason(password) == "password_too_short"


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    base=st.sampled_from(["passwordpassword", "qwertyuiopasdfgh", "0123456789012345", *STRONG[:3]]),
    padding=st.lists(st.tuples(st.integers(min_value=0, max_value=40), INVISIBLE), max_size=12),
)
def test_invisible_padding_never_changes_the_decision(base: str, padding: list[tuple[int, str]]) -> None:
    padded = list(base)
    for position, char in padding:
        padded.insert(min(position, len(padded)), char)
    candidate = "".join(padded)[: passwords.MAX_LENGTH]

    def decision(password: str) -> str:
        try:
            passwords.check_policy(password, context=CONTEXT)
        except ValidationFailed as refused:
            return refused.instance_code
        return "accepted"

    assert decision(candidate) == decision(base)


# --- the breached-password check against a fake range API on loopback -----------------------------------------------

BREACHED = "vermilion lighthouse accordion"  # strong by every local rule; the fake says it was breached


class FakeRange(BaseHTTPRequestHandler):
    """Answers GET /range/<prefix> like Pwned Passwords with padding; records what it was asked."""

    mode: ClassVar[str] = "ok"
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        FakeRange.requests.append({"path": self.path, "padding": self.headers.get("Add-Padding")})
        if FakeRange.mode == "slow":
            time.sleep(breached.TIMEOUT_S + 1)
        if FakeRange.mode == "error":
            self.send_response(503)
            self.end_headers()
            return
        digest = hashlib.sha1(BREACHED.encode(), usedforsecurity=False).hexdigest().upper()
        lines = [f"{'0' * 35}:0", f"{'F' * 35}:0"]  # padding entries
        if self.path.endswith("/" + digest[:5]):
            lines.append(f"{digest[5:]}:4242")
        body = ("\r\n".join(lines) if FakeRange.mode != "garbage" else "\u00ff" * 50).encode("latin-1")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fake_range(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeRange.mode, FakeRange.requests = "ok", []
    with serving(FakeRange) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/range"
        monkeypatch.setenv("BREACHED_PASSWORDS_URL", url)
        sb_settings.reload()
        yield url


def test_a_breached_password_is_refused_and_only_a_hash_prefix_leaves(fake_range: str) -> None:
    assert _reason(BREACHED) == "password_breached"
    (asked,) = FakeRange.requests
    assert asked["padding"] == "true"
    prefix = asked["path"].rsplit("/", 1)[1]
    assert prefix == hashlib.sha1(BREACHED.encode(), usedforsecurity=False).hexdigest().upper()[:5]
    assert "vermilion" not in asked["path"]
    passwords.check_policy("lantern quasar velvet plumbing", context=CONTEXT)  # not in the fake's range: accepted


def test_local_rules_run_first_so_weak_passwords_never_reach_the_service(fake_range: str) -> None:
    assert _reason("qwertyuiopasdfgh") == "password_common"
    assert FakeRange.requests == []


@pytest.mark.parametrize("mode", ["slow", "error", "garbage", "closed"])
def test_the_breach_check_fails_open_and_logs_when_the_service_cannot_answer(
    fake_range: str, mode: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeRange.mode = mode
    if mode == "closed":
        with serving(FakeRange) as other:
            closed = f"http://127.0.0.1:{other.server_address[1]}/range"
        monkeypatch.setenv("BREACHED_PASSWORDS_URL", closed)
        sb_settings.reload()
    started = time.monotonic()
    passwords.check_policy(BREACHED, context=CONTEXT)  # accepted: the local screening passed, the service is out
    assert time.monotonic() - started < breached.TIMEOUT_S + 1
    logged = [record.getMessage() for record in caplog.records]
    assert "password_breach_check_unavailable" in logged, logged


def test_the_local_stack_never_calls_the_real_service() -> None:
    assert sb_settings.get().breached_passwords_url == ""
    assert sb_settings.from_environment({"STAGE": "prod"}).breached_passwords_url.startswith("https://")
    assert sb_settings.from_environment({"STAGE": "dev"}).breached_passwords_url == sb_settings.PWNED_PASSWORDS_URL


def test_the_fake_serves_concurrent_checks(fake_range: str) -> None:
    results: list[str] = []

    def check() -> None:
        results.append(_reason(BREACHED))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["password_breached"] * 4
