"""Finding 19, second half (R17, R11, R24): recovery codes can be regenerated, and the old set dies at once.

`POST /v1/me/mfa/recovery-codes {code}`: a recent login and a current TOTP code → ten new codes shown once; every
code of the previous set (used or not) stops working; an audit event and an e-mail say so. Every way to ask without
those proofs is refused and leaves the old set working.
"""

from __future__ import annotations

import json

import boto3
import pytest

from switchboard.crypto import totp
from tests.integration.frozen import FrozenClock
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import mails_to
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

EMAIL = "jane@example.com"
ROUTE = "/v1/me/mfa/recovery-codes"


def _with_totp(frozen: FrozenClock) -> tuple[str, str, list[str]]:
    register(EMAIL, password=PASSWORD)
    token = login(EMAIL, PASSWORD)
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    activated = call("POST", "/v1/me/mfa/totp/activate", {"code": _code(seed)}, token=token)
    assert activated.status == 200, activated.body
    frozen.advance(30)  # activation spent this step
    return token, seed, activated.body["recovery_codes"]


def _code(seed: str) -> str:
    return totp.code_at_step(seed, totp.current_step())


def _login_with(recovery_code: str) -> int:
    answer = call("POST", "/v1/sessions", {"email": EMAIL, "password": PASSWORD, "recovery_code": recovery_code})
    return answer.status


def _audit_types(token: str) -> list[str]:
    return [e["type"] for e in call("GET", "/v1/audit-events", token=token, query={"limit": "100"}).body["data"]]


def test_regenerate_gives_ten_new_codes_and_kills_the_whole_old_set(
    identity: dict[str, str],  # noqa: F811
    frozen: FrozenClock,
) -> None:
    token, seed, old = _with_totp(frozen)
    assert _login_with(old[0]) == 201  # one of the old set spent before the regeneration
    frozen.advance(1)
    answer = call("POST", ROUTE, {"code": _code(seed)}, token=token)
    assert answer.status == 200, answer.body
    new = answer.body["recovery_codes"]
    assert len(new) == len(set(new)) == 10
    assert not set(new) & set(old)
    assert all(len(c) == 10 for c in new)
    # The old set, used or not, is dead: its first (spent), a middle and its last code.
    for dead in (old[0], old[5], old[9]):
        assert _login_with(dead) == 401
    assert _login_with(new[3]) == 201
    assert _login_with(new[3]) == 401  # single use, as before
    assert "mfa.recovery_codes_regenerated" in _audit_types(token)
    notice = next(m for m in mails_to(EMAIL) if "New recovery codes were made" in m.subject)
    assert not any(code in notice.body for code in new)
    client = boto3.client("dynamodb")
    dump = json.dumps([client.scan(TableName=n)["Items"] for n in client.list_tables()["TableNames"]], default=repr)
    assert not any(code in dump for code in new)
    assert dump.count("$argon2id$") >= 10


REFUSALS = {
    "wrong code": (lambda seed: "000000" if _code(seed) != "000000" else "111111", 0, 401, "invalid_mfa_code"),
    "code of a spent step": (lambda seed: totp.code_at_step(seed, totp.current_step() - 1), 0, 401, "invalid_mfa_code"),
    "code two steps old": (lambda seed: totp.code_at_step(seed, totp.current_step() - 2), 0, 401, "invalid_mfa_code"),
    "login older than five minutes": (_code, 6 * 60, 401, "reauth_required"),
    # Refused by the request model (printable ASCII only, finding 3) before any code is checked.
    "non-ASCII digits": (lambda seed: "".join(chr(0x0660 + int(d)) for d in _code(seed)), 0, 422, "validation_failed"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_regenerate_without_a_recent_login_and_current_code_is_refused(
    identity: dict[str, str],  # noqa: F811
    frozen: FrozenClock,
    case: str,
) -> None:
    token, seed, old = _with_totp(frozen)
    make_code, wait_s, status, code = REFUSALS[case]
    frozen.advance(wait_s)
    answer = call("POST", ROUTE, {"code": make_code(seed)}, token=token)
    assert (answer.status, answer.body["code"]) == (status, code), answer.body
    assert "recovery_codes" not in answer.body
    assert _login_with(old[2]) == 201  # the old set still works


def test_regenerate_needs_a_session_and_totp_on(identity: dict[str, str], frozen: FrozenClock) -> None:  # noqa: F811
    register(EMAIL, password=PASSWORD)
    token = login(EMAIL, PASSWORD)
    off = call("POST", ROUTE, {"code": "123456"}, token=token)
    assert (off.status, off.body["code"]) == (409, "mfa_not_enabled")
    key = call("POST", "/v1/api-keys", {"name": "k", "role": "owner"}, token=token).body["key"]
    with_key = call("POST", ROUTE, {"code": "123456"}, token=key)
    assert (with_key.status, with_key.body["code"]) == (403, "session_required")
    assert call("POST", ROUTE, {"code": "123456"}).status == 401
    assert call("POST", ROUTE, {}, token=token).status == 422


def test_wrong_codes_count_toward_the_login_lockout(identity: dict[str, str], frozen: FrozenClock) -> None:  # noqa: F811
    token, seed, _ = _with_totp(frozen)
    wrong = "000000" if _code(seed) != "000000" else "111111"
    answers = [call("POST", ROUTE, {"code": wrong}, token=token).status for _ in range(11)]
    assert answers[:10] == [401] * 10
    assert answers[10] == 429
    refused = call("POST", ROUTE, {"code": _code(seed)}, token=token)
    assert refused.status == 429  # even the right code, while locked
