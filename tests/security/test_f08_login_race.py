"""Finding 8 (R9, R10): parallel wrong passwords get at most 10 guesses per 15-minute window, per e-mail and per IP.

Two ways in: real threads through the login logic under moto (moto serialized per request, as DynamoDB applies each
write atomically; nothing else in the process is serialized, so the threads race exactly as Lambda instances would),
and 50 parallel HTTP requests through the local stack.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from switchboard.crypto import totp
from switchboard.logic import sessions, throttle
from switchboard.models.errors import ProblemError
from switchboard.models.identity import LoginIn
from switchboard.models.request import RequestMeta
from tests.e2e.conftest import E2E_ENV, LocalStack, running_stack
from tests.integration.frozen import FrozenClock
from tests.integration.identity.support import call, register, session
from tests.integration.moto_atomic import serialized_moto
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

PARALLEL = 50
VICTIM = "victim@example.com"


def _race(attempts: list[tuple[str, str, str]]) -> Counter[str]:
    """Run every (e-mail, password, ip) login at once on its own thread; the answer codes, counted."""
    start = threading.Barrier(len(attempts))

    def one(attempt: tuple[str, str, str]) -> str:
        email, password, ip = attempt
        start.wait()
        try:
            sessions.login(LoginIn(email=email, password=password), RequestMeta("race", ip, "race"))
        except ProblemError as error:
            return error.instance_code
        return "created"

    with serialized_moto(), ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return Counter(pool.map(one, attempts))


VARIANTS: dict[str, Callable[[int], tuple[str, str, str]]] = {
    "one e-mail from one IP": lambda i: (VICTIM, f"wrong guess number {i:04}", "203.0.113.5"),
    "one e-mail from fifty IPs": lambda i: (VICTIM, f"wrong guess number {i:04}", f"203.0.113.{i + 1}"),
    "fifty e-mails (known and unknown) from one IP": lambda i: (
        VICTIM if i == 0 else f"nobody{i}@example.com",
        f"wrong guess number {i:04}",
        "203.0.113.5",
    ),
    "one unknown e-mail from fifty IPs": lambda i: ("ghost@example.com", f"wrong guess {i:04}", f"192.0.2.{i + 1}"),
}


@pytest.fixture
def victim(identity: dict[str, str], frozen: FrozenClock) -> Iterator[FrozenClock]:  # noqa: F811
    register(VICTIM, PASSWORD)
    yield frozen


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_parallel_wrong_logins_get_exactly_ten_guesses_per_window(victim: FrozenClock, variant: str) -> None:
    attempts = [VARIANTS[variant](i) for i in range(PARALLEL)]
    answers = _race(attempts)
    assert answers["invalid_credentials"] == throttle.MAX_FAILURES, answers
    assert answers["too_many_attempts"] == PARALLEL - throttle.MAX_FAILURES, answers
    # The window is spent: a fresh burst gets no guess at all, even with the right password in it.
    email, _, ip = attempts[0]
    again = _race([(email, PASSWORD if i == 0 else f"another wrong {i}", ip) for i in range(20)])
    assert again == Counter({"too_many_attempts": 20}), again
    victim.advance(throttle.LOCK_S + 1)
    if email == VICTIM:
        assert _race([(VICTIM, PASSWORD, ip)]) == Counter({"created": 1})


def test_parallel_right_passwords_give_their_slots_back(victim: FrozenClock) -> None:
    # Successes never count: 30 parallel right logins, then 10 wrong ones still all get their guess.
    assert _race([(VICTIM, PASSWORD, "203.0.113.9")] * 30)["created"] >= 1
    answers = _race([(VICTIM, f"wrong {i}", "203.0.113.9") for i in range(12)])
    assert answers == Counter({"invalid_credentials": 10, "too_many_attempts": 2}), answers


def test_parallel_guesses_with_a_second_factor_share_the_same_ten_slots(victim: FrozenClock) -> None:
    token = session(VICTIM, PASSWORD)
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    code = totp.code_at_step(seed, totp.current_step())
    assert call("POST", "/v1/me/mfa/totp/activate", {"code": code}, token=token).status == 200
    # The attacker knows the password and races 50 TOTP guesses from 50 IPs: only 10 are checked at all.
    attempts = [(VICTIM, PASSWORD, f"198.51.100.{i + 1}", f"{i:06}") for i in range(PARALLEL)]
    answers = _race_mfa(attempts)
    assert answers["too_many_attempts"] == PARALLEL - throttle.MAX_FAILURES, answers
    assert answers["invalid_mfa_code"] + answers["created"] == throttle.MAX_FAILURES, answers


def _race_mfa(attempts: list[tuple[str, str, str, str]]) -> Counter[str]:
    start = threading.Barrier(len(attempts))

    def one(attempt: tuple[str, str, str, str]) -> str:
        email, password, ip, code = attempt
        start.wait()
        try:
            sessions.login(LoginIn(email=email, password=password, totp_code=code), RequestMeta("race", ip, "race"))
        except ProblemError as error:
            return error.instance_code
        return "created"

    with serialized_moto(), ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return Counter(pool.map(one, attempts))


# The stack runs one invocation of a function at a time, so each refusal's 400 ms floor (R8, proved by
# test_f02_enumeration_timing and test_login_timing) made the two bursts wait 2 x 50 x 0.4 s for nothing; the floor
# is a sleep after the attempt was counted, so without it the same requests race the same throttle.
NO_FLOOR = {**E2E_ENV, "LOGIN_FAILURE_FLOOR_MS": "0"}


def test_local_stack_admits_at_most_ten_of_fifty_parallel_wrong_logins(tmp_path: Path) -> None:
    with running_stack(tmp_path, env=NO_FLOOR) as stack:
        _signup_verified(stack, "race@e2e.example")
        for emails in (["race@e2e.example"] * PARALLEL, [f"stranger{i}@e2e.example" for i in range(PARALLEL)]):
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                answers = list(
                    pool.map(
                        lambda email: stack.request(
                            "POST", "/v1/sessions", {"email": email, "password": "not the password at all"}
                        ),
                        emails,
                    )
                )
            statuses = Counter(a.status for a in answers)
            assert statuses[401] <= throttle.MAX_FAILURES, statuses
            assert statuses[401] + statuses[429] == PARALLEL, statuses
            assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status == 429)
            right = stack.request("POST", "/v1/sessions", {"email": "race@e2e.example", "password": PASSWORD})
            assert right.status == 429, right.body
            assert stack.request("POST", "/_local/clock", {"advance_s": throttle.LOCK_S + 1}).status == 200
            assert (
                stack.request("POST", "/v1/sessions", {"email": "race@e2e.example", "password": PASSWORD}).status == 201
            )


def _signup_verified(stack: LocalStack, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "account_name": "Race Widgets"}
    assert stack.request("POST", "/v1/signup", body).status == 202
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
