"""R14 race: one TOTP code sent by several requests at once is accepted exactly once.

Whatever spends it (logins, re-authentications, regenerating recovery codes) and however many race, one wins and
the others get 401 `invalid_mfa_code`: the step is spent by a conditional update, never by a check-then-write.
Real threads through the logic under moto (serialized per request, as DynamoDB applies writes), and two parallel
logins through the local stack.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pyotp
import pytest

from switchboard.auth import Principal
from switchboard.crypto import totp
from switchboard.logic import mfa, sessions
from switchboard.models.errors import ProblemError
from switchboard.models.identity import LoginIn, ReauthIn
from switchboard.models.request import RequestMeta
from tests.e2e.conftest import E2E_ENV, running_stack
from tests.integration.frozen import FrozenClock
from tests.integration.identity.gateway import call, login, register
from tests.integration.moto_atomic import serialized_moto
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

EMAIL = "jane@example.com"


def _principal(token: str) -> Principal:
    context = sessions.resolve(token)
    assert context is not None
    return Principal.from_event({"requestContext": {"authorizer": context}})


def _spend(kind: str, code: str, token: str, n: int) -> Callable[[], object]:
    meta = RequestMeta(f"race-{n}", f"203.0.113.{n + 1}", "race")
    if kind == "login":
        return lambda: sessions.login(LoginIn(email=EMAIL, password=PASSWORD, totp_code=code), meta)
    if kind == "reauth":
        return lambda: sessions.reauth(_principal(token), ReauthIn(password=PASSWORD, totp_code=code), meta)
    return lambda: mfa.regenerate_recovery_codes(_principal(token), code, meta)


# Which requests race with one code, and the code's step relative to now (-1: the previous, still-valid step).
MIXES = {
    "two logins": (["login", "login"], 0),
    "two logins, previous step": (["login", "login"], -1),
    "ten logins": (["login"] * 10, 0),
    "a login and a re-authentication": (["login", "reauth"], -1),
    "a login and a recovery-code regeneration": (["login", "recovery_codes"], 0),
    "re-authentication, regeneration and three logins": (["reauth", "recovery_codes", "login", "login", "login"], -1),
}


@pytest.mark.parametrize("mix", list(MIXES))
def test_one_totp_code_sent_in_parallel_is_accepted_once(
    identity: dict[str, str],  # noqa: F811
    frozen: FrozenClock,
    mix: str,
) -> None:
    kinds, step_offset = MIXES[mix]
    register(EMAIL, password=PASSWORD)
    token = login(EMAIL, PASSWORD)
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    assert call("POST", "/v1/me/mfa/totp/activate", {"code": totp.code_at_step(seed, totp.current_step())}, token=token)
    frozen.advance(60)  # two steps on: the previous step (offset -1) is unspent too, and still within the window
    code = totp.code_at_step(seed, totp.current_step() + step_offset)
    jobs = [_spend(kind, code, token, n) for n, kind in enumerate(kinds)]
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], object]) -> str:
        start.wait()
        try:
            job()
        except ProblemError as error:
            return error.instance_code
        return "accepted"

    with serialized_moto(), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = Counter(pool.map(run, jobs))
    assert answers == Counter({"accepted": 1, "invalid_mfa_code": len(jobs) - 1}), answers
    # Spent for good: the same code once more, alone, is refused too.
    assert run_alone(code) == "invalid_mfa_code"


def run_alone(code: str) -> str:
    try:
        sessions.login(LoginIn(email=EMAIL, password=PASSWORD, totp_code=code), RequestMeta("again", "192.0.2.1", "r"))
    except ProblemError as error:
        return error.instance_code
    return "accepted"


def test_two_parallel_logins_with_one_code_through_the_local_stack(tmp_path: Path) -> None:
    email = "totp-race@e2e.example"
    with running_stack(tmp_path, env=E2E_ENV) as stack:
        body = {"email": email, "password": PASSWORD, "account_name": "Race Widgets"}
        assert stack.request("POST", "/v1/signup", body).status == 202
        link = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
        assert stack.request("POST", "/v1/email-verifications", {"token": link}).status == 200
        token = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        secret = stack.request("POST", "/v1/me/mfa/totp", headers=bearer).json()["secret"]
        now = stack.request("POST", "/_local/clock", {"advance_s": 0}).json()["now"]
        at = int(datetime.fromisoformat(now).timestamp())
        code = pyotp.TOTP(secret).at(at)
        assert stack.request("POST", "/v1/me/mfa/totp/activate", {"code": code}, headers=bearer).status == 200
        for _round in range(3):
            assert stack.request("POST", "/_local/clock", {"advance_s": 30}).status == 200
            at += 30
            code = pyotp.TOTP(secret).at(at)
            login_body = {"email": email, "password": PASSWORD, "totp_code": code}
            with ThreadPoolExecutor(max_workers=2) as pool:
                answers = list(pool.map(lambda b: stack.request("POST", "/v1/sessions", b), [login_body] * 2))
            statuses = sorted(a.status for a in answers)
            assert statuses == [201, 401], [a.body for a in answers]
            refused = next(a for a in answers if a.status == 401)
            assert refused.json()["code"] == "invalid_mfa_code"
