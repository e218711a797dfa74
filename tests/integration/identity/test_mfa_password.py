"""TOTP (R12-R17), password change (R5) and reset (R6), /me, and what the tables hold (R4, R16, R19, R26)."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from switchboard import clock
from switchboard.crypto import totp
from tests.integration.identity.support import (
    PASSWORD,
    call,
    last_token,
    login,
    mails_to,
    register,
    session,
)

NEW_PASSWORD = "a different long passphrase"


def _align() -> None:
    """Move the clock to just after a step boundary, so a test's codes do not roll over mid-test."""
    clock.advance(totp.STEP_S - clock.timestamp() % totp.STEP_S + 0.5)


def _enable_totp(email: str) -> tuple[str, str, list[str]]:
    """Register, enrol and activate; (token, seed, recovery codes). The activation step is spent."""
    _align()
    register(email)
    token = session(email)
    enrolled = call("POST", "/v1/me/mfa/totp", token=token)
    assert enrolled.status == 201
    seed = enrolled.body["secret"]
    activated = call(
        "POST", "/v1/me/mfa/totp/activate", {"code": totp.code_at_step(seed, totp.current_step())}, token=token
    )
    assert activated.status == 200, activated.body
    return token, seed, activated.body["recovery_codes"]


def _code(seed: str, offset: int = 0) -> str:
    return totp.code_at_step(seed, totp.current_step() + offset)


def test_totp_r12_enrolment_seed_and_uri(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    first = call("POST", "/v1/me/mfa/totp", token=token).body
    second = call("POST", "/v1/me/mfa/totp", token=token).body
    assert len(base64.b32decode(first["secret"])) == 20
    assert first["secret"] != second["secret"]
    uri = urlparse(first["otpauth_uri"])
    params = parse_qs(uri.query)
    assert uri.scheme == "otpauth"
    assert params["issuer"] == ["Switchboard"]
    assert params["digits"] == ["6"]
    assert params["period"] == ["30"]


def test_totp_r16_enrolment_without_activation_leaves_login_single_factor(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    call("POST", "/v1/me/mfa/totp", token=token)
    assert login("jane@example.com").status == 201
    assert call("GET", "/v1/me", token=token).body["mfa_enabled"] is False


def test_totp_r13_r14_login_needs_a_code_and_each_step_once(identity: dict[str, str]) -> None:
    token, seed, codes = _enable_totp("jane@example.com")
    assert len(codes) == 10
    assert call("GET", "/v1/me", token=token).body["mfa_enabled"] is True
    assert (
        "Two-factor authentication is on"
        in mails_to("jane@example.com")[-1].subject + mails_to("jane@example.com")[-1].body
    )
    required = login("jane@example.com")
    assert (required.status, required.body["code"]) == (401, "mfa_required")
    wrong = login("jane@example.com", "not the password at all", totp_code=_code(seed, 1))
    assert wrong.body["code"] == "invalid_credentials"  # the factor is only looked at after the password
    replay = login("jane@example.com", totp_code=_code(seed))  # the activation spent this step
    assert (replay.status, replay.body["code"]) == (401, "invalid_mfa_code")
    clock.advance(30)
    code = _code(seed)
    assert login("jane@example.com", totp_code=code).status == 201
    assert login("jane@example.com", totp_code=code).status == 401
    assert login("jane@example.com", totp_code=_code(seed, -1)).status == 401  # earlier than the last accepted
    assert login("jane@example.com", totp_code=_code(seed, 1)).status == 201  # +1 step is in the window
    clock.advance(60)
    assert login("jane@example.com", totp_code=_code(seed, 2)).status == 401  # +2 steps is not


def test_totp_r14_two_concurrent_logins_with_one_code_exactly_one_wins(identity: dict[str, str]) -> None:
    _, seed, _ = _enable_totp("jane@example.com")
    clock.advance(30)
    code = _code(seed)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda ip: login("jane@example.com", totp_code=code, ip=ip).status, ["192.0.2.1", "192.0.2.2"])
        )
    assert sorted(results) == [201, 401]


def test_totp_r9_wrong_codes_count_as_failures(identity: dict[str, str]) -> None:
    _, seed, _ = _enable_totp("jane@example.com")
    for attempt in range(10):
        login(
            "jane@example.com", totp_code="000000" if _code(seed) != "000000" else "111111", ip=f"203.0.113.{attempt}"
        )
    clock.advance(30)
    locked = login("jane@example.com", totp_code=_code(seed), ip="203.0.113.99")
    assert (locked.status, locked.body["code"]) == (429, "too_many_attempts")


def test_totp_r17_recovery_code_works_once_and_notifies(identity: dict[str, str]) -> None:
    _, _, codes = _enable_totp("jane@example.com")
    assert login("jane@example.com", recovery_code=codes[3]).status == 201
    assert "recovery codes was used" in mails_to("jane@example.com")[-1].body
    again = login("jane@example.com", recovery_code=codes[3])
    assert (again.status, again.body["code"]) == (401, "invalid_mfa_code")
    assert login("jane@example.com", recovery_code=codes[4].upper()).status == 201


def test_totp_r16_disable_needs_password_and_code(identity: dict[str, str]) -> None:
    token, seed, _ = _enable_totp("jane@example.com")
    clock.advance(30)
    no_code = call("DELETE", "/v1/me/mfa/totp", {"password": PASSWORD, "code": "123"}, token=token)
    assert no_code.status == 401
    clock.advance(4 * 60)  # still within 5 minutes of the login
    wrong_password = call(
        "DELETE", "/v1/me/mfa/totp", {"password": "no no no no no no no", "code": _code(seed)}, token=token
    )
    assert (wrong_password.status, wrong_password.body["code"]) == (401, "invalid_credentials")
    assert call("DELETE", "/v1/me/mfa/totp", {"password": PASSWORD, "code": _code(seed)}, token=token).status == 204
    assert "turned off" in mails_to("jane@example.com")[-1].body
    assert login("jane@example.com").status == 201


def test_totp_activation_with_a_wrong_code_is_422(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    _align()
    wrong = "000000" if _code(seed) != "000000" else "111111"
    answer = call("POST", "/v1/me/mfa/totp/activate", {"code": wrong}, token=token)
    assert (answer.status, answer.body["code"]) == (422, "invalid_mfa_code")
    assert answer.body["errors"][0]["pointer"] == "/code"


def test_password_r5_change_ends_other_sessions_and_notifies(identity: dict[str, str]) -> None:
    register("jane@example.com")
    other = session("jane@example.com")
    token = session("jane@example.com")
    missing = call("POST", "/v1/me/password", {"new_password": NEW_PASSWORD}, token=token)
    assert missing.status == 422
    wrong = call(
        "POST",
        "/v1/me/password",
        {"current_password": "not it at all, sorry", "new_password": NEW_PASSWORD},
        token=token,
    )
    assert (wrong.status, wrong.body["code"]) == (401, "invalid_credentials")
    weak = call("POST", "/v1/me/password", {"current_password": PASSWORD, "new_password": "short"}, token=token)
    assert (weak.status, weak.body["errors"][0]["pointer"]) == (422, "/new_password")
    ok = call("POST", "/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, token=token)
    assert ok.status == 204
    assert call("GET", "/v1/me", token=token).status == 200
    assert call("GET", "/v1/me", token=other).status == 401
    assert "Your password was changed" in mails_to("jane@example.com")[-1].subject
    assert login("jane@example.com").status == 401
    assert login("jane@example.com", NEW_PASSWORD).status == 201


def test_password_r24_change_needs_a_recent_login(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    clock.advance(6 * 60)
    answer = call("POST", "/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, token=token)
    assert (answer.status, answer.body["code"]) == (401, "reauth_required")


def test_reset_r6_same_answer_for_unknown_and_single_use_token(identity: dict[str, str]) -> None:
    register("jane@example.com")
    a = session("jane@example.com")
    known = call("POST", "/v1/password-resets", {"email": "jane@example.com"})
    unknown = call("POST", "/v1/password-resets", {"email": "nobody@example.com"})
    assert (known.status, known.body) == (unknown.status, unknown.body) == (202, {"status": "reset_requested"})
    assert mails_to("nobody@example.com") == []
    token = last_token("jane@example.com")
    confirm = call("POST", "/v1/password-resets/confirm", {"token": token, "new_password": NEW_PASSWORD})
    assert confirm.status == 204
    assert call("GET", "/v1/me", token=a).status == 401  # every session ended
    reused = call("POST", "/v1/password-resets/confirm", {"token": token, "new_password": NEW_PASSWORD + "!"})
    assert (reused.status, reused.body["code"]) == (400, "token_invalid")
    assert login("jane@example.com", NEW_PASSWORD).status == 201


def test_reset_r6_expires_after_30_minutes_and_newer_token_wins(identity: dict[str, str]) -> None:
    register("jane@example.com")
    call("POST", "/v1/password-resets", {"email": "jane@example.com"})
    older = last_token("jane@example.com")
    call("POST", "/v1/password-resets", {"email": "jane@example.com"})
    newer = last_token("jane@example.com")
    assert call("POST", "/v1/password-resets/confirm", {"token": older, "new_password": NEW_PASSWORD}).status == 400
    clock.advance(31 * 60)
    assert call("POST", "/v1/password-resets/confirm", {"token": newer, "new_password": NEW_PASSWORD}).status == 400


def test_reset_r6_weak_password_keeps_the_token(identity: dict[str, str]) -> None:
    register("jane@example.com")
    call("POST", "/v1/password-resets", {"email": "jane@example.com"})
    token = last_token("jane@example.com")
    weak = call("POST", "/v1/password-resets/confirm", {"token": token, "new_password": "passwordpassword"})
    assert (weak.status, weak.body["code"]) == (422, "password_common")
    assert call("POST", "/v1/password-resets/confirm", {"token": token, "new_password": NEW_PASSWORD}).status == 204


def test_reset_r6_never_bypasses_totp_and_clears_the_lockout(identity: dict[str, str]) -> None:
    _, seed, _ = _enable_totp("jane@example.com")
    for attempt in range(10):
        login("jane@example.com", "wrong password number one", ip=f"203.0.113.{attempt}")
    assert login("jane@example.com", ip="203.0.113.50").status == 429
    call("POST", "/v1/password-resets", {"email": "jane@example.com"})
    confirm = call(
        "POST", "/v1/password-resets/confirm", {"token": last_token("jane@example.com"), "new_password": NEW_PASSWORD}
    )
    assert confirm.status == 204
    after = login("jane@example.com", NEW_PASSWORD, ip="203.0.113.51")
    assert (after.status, after.body["code"]) == (401, "mfa_required")
    clock.advance(30)
    assert login("jane@example.com", NEW_PASSWORD, ip="203.0.113.52", totp_code=_code(seed)).status == 201


def _raw_dump(*, skip: str = "\0") -> str:
    client = boto3.client("dynamodb")
    items = []
    for name in client.list_tables()["TableNames"]:
        if skip not in name:
            items.extend(client.scan(TableName=name)["Items"])
    return json.dumps(items, default=repr)


def test_tables_r4_r16_r19_hold_no_secret_or_personal_value_in_plaintext(identity: dict[str, str]) -> None:
    register("jane.doe@example.com")
    token = session("jane.doe@example.com")
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    _align()
    codes = call("POST", "/v1/me/mfa/totp/activate", {"code": _code(seed)}, token=token).body["recovery_codes"]
    call("POST", "/v1/password-resets", {"email": "jane.doe@example.com"})
    reset_token = last_token("jane.doe@example.com")
    call("POST", "/v1/signup", {"email": "new@example.com", "password": PASSWORD, "account_name": "New Co"})
    verify_token = last_token("new@example.com")
    dump = _raw_dump()
    forbidden = [
        PASSWORD,
        "jane.doe@example.com",
        "jane.doe",
        "new@example.com",
        token,
        token.removeprefix("sbs_"),
        seed,
        reset_token,
        verify_token,
        *codes,
        *identity.values(),
    ]
    for value in forbidden:
        assert value not in dump, value
    assert "$argon2id$" in dump
    # The audit trail must name the client IP of each action (R54); no other table keeps it in plaintext.
    assert "198.51.100.7" not in _raw_dump(skip="Audit")
    assert "198.51.100.7" in dump


@pytest.mark.parametrize("path", ["/v1/me", "/v1/sessions"])
def test_session_routes_r30_need_a_credential(identity: dict[str, str], path: str) -> None:
    assert call("GET", path).status == 401
