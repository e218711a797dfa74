"""DELETE /v1/account and POST /v1/account/restore: access stops at once, comes back on restore, and only then."""

from __future__ import annotations

from datetime import datetime

from switchboard import clock
from switchboard.crypto import totp
from switchboard.dal import accounts as accounts_dal
from switchboard.logic import audit
from switchboard.logic.closure import GRACE_S
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import PASSWORD, mails_to
from tests.integration.lifecycle.support import delete_account, now, of_account, populate, restore


def _types(account_id: str) -> list[str]:
    return [e.type for e in audit.list_events(account_id, limit=100).data]


def test_delete_account_stops_every_session_and_key_at_once(identity: dict[str, str]) -> None:
    world = populate("owner@closing.example")
    started = now()

    answer = delete_account(world.owner)

    assert answer.status == 202, answer.body
    assert answer.body["status"] == "pending_deletion"
    purge_after = int(datetime.fromisoformat(answer.body["purge_after"]).timestamp())
    assert purge_after - started in range(GRACE_S, GRACE_S + 5)
    assert GRACE_S == 30 * 24 * 3600
    for token in (world.owner, world.admin, world.key):
        assert call("GET", "/v1/account", token=token).status == 401
    sessions_left = [i for i in of_account(world.account_id)["Sessions"] if i["sk"] == "SESSION"]
    assert sessions_left == []  # every session item is gone, not merely refused
    refused = call("POST", "/v1/sessions", {"email": world.email, "password": PASSWORD})
    assert (refused.status, refused.body["code"]) == (401, "account_unavailable")
    assert "account.deletion_requested" in _types(world.account_id)
    notice = mails_to(world.email)[-1]
    assert "will be deleted" in notice.subject
    assert answer.body["purge_after"] in notice.body
    account = accounts_dal.get_account(world.account_id)
    assert account is not None
    assert (account.status, int(account.purge_after or 0)) == ("pending_deletion", purge_after)


def test_delete_account_wrong_password_is_401_and_counted_as_a_login_failure(identity: dict[str, str]) -> None:
    register("wrong@closing.example")
    token = login("wrong@closing.example")
    me = call("GET", "/v1/me", token=token).body

    answer = delete_account(token, password="this is not my password")

    assert (answer.status, answer.body["code"]) == (401, "invalid_credentials")
    user = accounts_dal.get_user(me["account_id"], me["user_id"])
    assert user is not None
    assert user.failed_logins == 1
    assert "login.failed" in _types(me["account_id"])
    assert call("GET", "/v1/account", token=token).body["status"] == "active"


def test_delete_account_is_for_an_owner_session_with_a_body(identity: dict[str, str]) -> None:
    world = populate("roles@closing.example")
    owner_key = call("POST", "/v1/api-keys", {"name": "o", "role": "owner"}, token=world.owner).body["key"]

    by_admin = delete_account(world.admin)
    by_key = delete_account(owner_key)
    without_body = call("DELETE", "/v1/account", token=world.owner)

    assert (by_admin.status, by_admin.body["code"]) == (403, "forbidden")
    assert (by_key.status, by_key.body["code"]) == (403, "session_required")
    assert (without_body.status, without_body.body["code"]) == (422, "validation_failed")
    assert call("GET", "/v1/account", token=world.owner).body["status"] == "active"


def test_delete_account_with_totp_needs_a_fresh_code(identity: dict[str, str]) -> None:
    clock.advance(totp.STEP_S - clock.timestamp() % totp.STEP_S + 0.5)
    register("totp@closing.example")
    token = login("totp@closing.example")
    seed = call("POST", "/v1/me/mfa/totp", token=token).body["secret"]
    code = totp.code_at_step(seed, totp.current_step())
    assert call("POST", "/v1/me/mfa/totp/activate", {"code": code}, token=token).status == 200

    missing = delete_account(token)
    clock.advance(totp.STEP_S)
    accepted = delete_account(token, totp_code=totp.code_at_step(seed, totp.current_step()))

    assert (missing.status, missing.body["code"]) == (401, "mfa_required")
    assert accepted.status == 202, accepted.body


def test_restore_brings_back_logins_and_keys_until_purge_after(identity: dict[str, str]) -> None:
    world = populate("restore@closing.example")
    before = {t: items for t, items in of_account(world.account_id).items() if t not in {"Sessions", "Audit"}}
    assert delete_account(world.owner).status == 202
    clock.advance(29 * 24 * 3600)

    unknown = restore("nobody@closing.example")
    wrong = restore(world.email, password="this is not my password")
    by_admin = restore(world.admin_email)
    restored = restore(world.email)
    again = restore(world.email)

    assert (unknown.status, unknown.body["code"]) == (401, "invalid_credentials")
    assert (wrong.status, wrong.body["code"]) == (401, "invalid_credentials")
    assert (by_admin.status, by_admin.body["code"]) == (403, "forbidden")
    assert (restored.status, restored.body) == (200, {"status": "active"})
    assert (again.status, again.body["code"]) == (409, "not_pending_deletion")
    token = login(world.email)
    account = call("GET", "/v1/account", token=token).body
    assert account["status"] == "active"
    assert "purge_after" not in account
    assert call("GET", "/v1/account", token=world.key).status == 200  # keys were refused, never revoked
    assert "account.restored" in _types(world.account_id)
    assert "was restored" in mails_to(world.email)[-1].subject
    after = {t: items for t, items in of_account(world.account_id).items() if t not in {"Sessions", "Audit"}}
    # The restore asks the release job to release what the closure held (one marker it removes on its next run).
    assert [i["sk"] for i in after["Messaging"] if i["sk"].startswith("HOLD#")] == ["HOLD#RESUME"]
    after["Messaging"] = [i for i in after["Messaging"] if not i["sk"].startswith("HOLD#")]
    # Everything is intact except what time or the logins themselves changed (the IP throttle, the account's flags).
    for table in ("Keyring", "Messaging", "Idempotency"):
        assert after[table] == before[table], table
    assert {i["sk"] for i in after["Accounts"]} == {i["sk"] for i in before["Accounts"]}


def test_restore_after_purge_after_is_410_then_401_once_purged(identity: dict[str, str]) -> None:
    from functions.purge_job import handler  # noqa: PLC0415
    from tests.integration.conftest import Context  # noqa: PLC0415

    world = populate("late@closing.example")
    assert delete_account(world.owner).status == 202
    clock.advance(GRACE_S + 1)

    late = restore(world.email)
    handler.lambda_handler({}, Context())
    gone = restore(world.email)

    assert (late.status, late.body["code"]) == (410, "account_purged")
    assert (gone.status, gone.body["code"]) == (401, "invalid_credentials")


def test_restore_of_an_active_account_is_409(identity: dict[str, str]) -> None:
    register("active@closing.example")
    answer = restore("active@closing.example")
    assert (answer.status, answer.body["code"]) == (409, "not_pending_deletion")
