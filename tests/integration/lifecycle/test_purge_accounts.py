"""The purge of closed accounts (R60, R61): crypto-shred, then every item of the account in every table except the
audit trail, its receipt and opt-out tombstones; nothing before purge_after; idempotent and resumable."""

from __future__ import annotations

from typing import Any

import pytest

from functions.purge_job import handler
from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import closure as closure_dal
from switchboard.logic import purge, webhooks
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call, login
from tests.integration.lifecycle.support import carrier_lookup, delete_account, now, of_account, populate, restore, scan

DAY = 24 * 3600


def owner_item(account_id: str) -> dict[str, Any]:
    """The owner's user item (sealed e-mail, e-mail blind index)."""
    return next(
        i
        for i in scan("Accounts")
        if i["pk"] == f"ACCT#{account_id}" and str(i["sk"]).startswith("USER#") and i["role"] == "owner"
    )


def _durable(items: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Items that no TTL sweep would touch before the purge (no expiry, or one after it)."""
    horizon = now() + GRACE_S
    return {
        table: sorted(
            (i for i in rows if "expires_at" not in i or int(i["expires_at"]) > horizon),
            key=lambda i: (str(i["pk"]), str(i["sk"])),
        )
        for table, rows in items.items()
        if table != "Sessions"
    }


def test_purge_removes_a_closed_account_from_every_table_after_30_days(identity: dict[str, str]) -> None:
    doomed = populate("doomed@purge.example")
    kept = populate("kept@purge.example", account_name="Staying Ltd")
    kept_before = of_account(kept.account_id)
    user_item = owner_item(doomed.account_id)
    assert delete_account(doomed.owner).status == 202
    durable = _durable(of_account(doomed.account_id))
    assert durable["Messaging"] and durable["Keyring"]

    clock.advance(29 * DAY)
    day_29 = handler.lambda_handler({}, Context())
    assert day_29["accounts"] == {"purged": 0, "pending": 0, "items_deleted": {}, "tombstones_kept": 0}
    assert _durable(of_account(doomed.account_id)) == durable
    # News during the grace period (a late receipt) is still logged for the account: it goes with the purge.
    webhooks.publish(doomed.account_id, "message.status", {"id": "msg_late", "status": "delivered"})
    assert [i for i in of_account(doomed.account_id)["Messaging"] if str(i["sk"]).startswith("EVT#")]

    clock.advance(GRACE_S - 29 * DAY + 1)
    report = handler.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    assert report["accounts"]["pending"] == 0
    assert report["accounts"]["tombstones_kept"] == 1
    assert report["complete"] is True
    left = of_account(doomed.account_id)
    assert left["Keyring"] == []
    for table in ("Accounts", "Sessions", "Messaging", "Idempotency", "Limits", "Platform"):
        survivors = [(i["pk"], i["sk"]) for i in left[table]]
        if table == "Accounts":
            assert survivors == [(f"RECEIPT#{doomed.account_id}", "RECEIPT")]
        elif table == "Messaging":
            assert survivors == [(f"ACCT#{doomed.account_id}", "OPTOUT#idx-of-another-phone")]
        else:
            assert survivors == [], table
    assert left["Audit"], "the audit trail is append-only and stays"
    # Global lookups found through the account's records are gone too (they name no account id in their key).
    globals_left = {i["pk"] for i in scan("Accounts") + scan("Sessions") + scan("Messaging")}
    assert carrier_lookup(doomed.account_id) not in globals_left
    assert carrier_lookup(kept.account_id) in globals_left
    assert f"KEYID#{doomed.key_id}" not in globals_left
    assert f"EMAIL#{user_item['email_index']}" not in globals_left
    assert f"LIMIT#LOGIN#EMAIL#{user_item['email_index']}" not in {i["pk"] for i in scan("Limits")}
    receipt = closure_dal.get_receipt(doomed.account_id)
    assert receipt is not None
    assert now() - 10 <= receipt["purged_at"] <= now()
    assert receipt["runs"] == 1
    assert sum(receipt["deleted"].values()) == sum(report["accounts"]["items_deleted"].values())
    assert receipt["deleted"]["lookups"] >= 6  # e-mails, numbers, key id, carrier id, tokens, throttle
    # The other account is untouched and works.
    assert _durable(of_account(kept.account_id)) == _durable(kept_before)
    assert call("GET", "/v1/account", token=login(kept.email)).status == 200
    # Logins, restore and the export are impossible now.
    assert call("POST", "/v1/sessions", {"email": doomed.email, "password": "x" * 20}).status == 401
    assert restore(doomed.email).status == 401

    second = handler.lambda_handler({}, Context())
    assert second["accounts"] == {"purged": 0, "pending": 0, "items_deleted": {}, "tombstones_kept": 0}


def test_purge_shreds_first_so_sealed_values_never_open_again(identity: dict[str, str]) -> None:
    world = populate("shred@purge.example")
    user_item = owner_item(world.account_id)
    sealed, item_key = user_item["email_sealed"], f"{user_item['pk']}|{user_item['sk']}"
    assert envelope.open_sealed(world.account_id, sealed, table="Accounts", item_key=item_key, field="email") == (
        world.email
    )
    assert delete_account(world.owner).status == 202
    clock.advance(GRACE_S + 1)

    handler.lambda_handler({}, Context())
    envelope.forget_cached_keys()  # as another process (or a restored backup of the table) would see it

    with pytest.raises(envelope.KeyShredded):
        envelope.open_sealed(world.account_id, sealed, table="Accounts", item_key=item_key, field="email")
    with pytest.raises(envelope.KeyShredded):
        envelope.blind_index(world.account_id, "+447700900123", purpose="phone")


def test_purge_leaves_a_restored_account_alone(identity: dict[str, str]) -> None:
    world = populate("changed-mind@purge.example")
    assert delete_account(world.owner).status == 202
    clock.advance(10 * DAY)
    assert restore(world.email).status == 200
    durable = _durable(of_account(world.account_id))

    clock.advance(GRACE_S)
    report = handler.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 0
    assert _durable(of_account(world.account_id)) == durable
    assert call("GET", "/v1/account", token=login(world.email)).body["status"] == "active"


class _Budget:
    """A Lambda deadline that runs out after `calls` checks (each check is one item of work)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> float:
        self.calls -= 1
        return 300.0 if self.calls > 0 else 1.0


def test_purge_stops_before_the_deadline_and_the_next_run_resumes(identity: dict[str, str]) -> None:
    worlds = [populate(f"batch{n}@purge.example", account_name=f"Batch {n}") for n in range(3)]
    for world in worlds:
        assert delete_account(world.owner).status == 202
    clock.advance(GRACE_S + 1)

    first = purge.run(time_left=_Budget(40))

    assert first.complete is False
    assert first.accounts.pending >= 1
    assert first.accounts.purged < 3
    started = [w for w in worlds if closure_dal.get_receipt(w.account_id) is not None]
    assert any("purged_at" not in (closure_dal.get_receipt(w.account_id) or {}) for w in started)

    runs = 1
    while purge.run(time_left=_Budget(40)).accounts.pending:
        runs += 1
        assert runs < 50
    final = purge.run()

    assert final.accounts.purged == 0
    assert final.complete is True
    for world in worlds:
        receipt = closure_dal.get_receipt(world.account_id)
        assert receipt is not None
        assert "purged_at" in receipt
        left = of_account(world.account_id)
        assert [i["sk"] for i in left["Accounts"]] == ["RECEIPT"]
        assert [i["sk"] for i in left["Messaging"]] == ["OPTOUT#idx-of-another-phone"]
        assert left["Sessions"] == left["Idempotency"] == left["Keyring"] == []
