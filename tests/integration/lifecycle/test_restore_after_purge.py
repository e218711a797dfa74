"""R61: a backup of every table taken before a purge, restored after it, keeps the purged account unreadable (its
key-encryption key is in no backup), and replaying the deletion log removes the account from the restored tables."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag

from functions.purge_job import handler
from switchboard import catalog, clock, settings
from switchboard.crypto import envelope
from switchboard.dal import closure as closure_dal
from switchboard.dal import keyring
from switchboard.dal.closure import plain
from switchboard.logic import purge
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import PHONE, delete_account, mentions, populate, tables

BACKED_UP = [t for t in catalog.TABLES if t.restorable]


def _restored(table_id: str) -> str:
    return f"restored-{table_id}"


def _scan(name: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return [plain(i) for page in client.get_paginator("scan").paginate(TableName=name) for i in page["Items"]]


def _of_account(account_id: str) -> dict[str, list[dict[str, Any]]]:
    """The account's items in every restored table."""
    return {t.id: [i for i in _scan(_restored(t.id)) if mentions(i, account_id)] for t in BACKED_UP}


def _recipient(account_id: str) -> tuple[str, str]:
    """The sealed phone of the account's seeded recipient and the item key it is sealed to."""
    pk, sk = f"ACCT#{account_id}", "RCP#rcp_1"
    (item,) = [i for i in _scan(tables()["Messaging"]) if (i["pk"], i["sk"]) == (pk, sk)]
    return str(item["phone_sealed"]), f"{pk}|{sk}"


def _open_phone(account_id: str, sealed: str, item_key: str) -> str:
    return envelope.open_sealed(account_id, sealed, table="Messaging", item_key=item_key, field="phone_sealed")


def test_restored_backups_keep_a_purged_account_unreadable_and_the_replay_removes_it(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the KEK table is outside PITR and AWS Backup (tests/infra/test_shred_stacks.py proves the template).
    assert [t.id for t in catalog.TABLES if not t.restorable] == [catalog.KEK_TABLE]
    doomed = populate("doomed@restore.example")
    kept = populate("kept@restore.example", account_name="Staying Ltd")
    doomed_phone, doomed_key = _recipient(doomed.account_id)
    kept_phone, kept_key = _recipient(kept.account_id)
    assert _open_phone(doomed.account_id, doomed_phone, doomed_key) == PHONE
    assert delete_account(doomed.owner).status == 202

    # The pre-deletion backups: every backed-up table, through DynamoDB's own backup API.
    client = boto3.client("dynamodb")
    backups = {
        t.id: client.create_backup(TableName=tables()[t.id], BackupName=f"pre-purge-{t.id}")["BackupDetails"][
            "BackupArn"
        ]
        for t in BACKED_UP
    }
    clock.advance(GRACE_S + 1)
    assert handler.lambda_handler({}, Context())["accounts"]["purged"] == 1

    # Restore every backup into fresh tables and point the code at them (the KEK table stays the live one).
    for spec in BACKED_UP:
        client.restore_table_from_backup(TargetTableName=_restored(spec.id), BackupArn=backups[spec.id])
        monkeypatch.setenv(spec.env, _restored(spec.id))
    settings.reload()
    envelope.forget_cached_keys()  # a fresh process after the restore
    restored = _of_account(doomed.account_id)
    assert restored["Keyring"], "the wrapped data key is back"
    assert any(i["sk"] == "RCP#rcp_1" for i in restored["Messaging"]), "and so is the sealed data"

    # Unreadable: the wrapped data key needs the KEK, which the purge deleted and no backup holds.
    with pytest.raises(envelope.KeyShredded):
        _open_phone(doomed.account_id, doomed_phone, doomed_key)
    with pytest.raises(envelope.KeyShredded):
        envelope.blind_index(doomed.account_id, PHONE, purpose="phone")
    # Not even KMS opens the restored data key: it is an AES-GCM ciphertext under the lost KEK, not a KMS one.
    (wrapped,) = restored["Keyring"]
    kms = boto3.client("kms")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=bytes(wrapped["wrapped_key"]), EncryptionContext={"account_id": doomed.account_id})
    # Brute force is AES-256: a wrong key fails the tag (here, another account's live KEK-wrapped key in its place).
    with pytest.raises((InvalidTag, envelope.KeyShredded)):
        _open_phone(kept.account_id, doomed_phone, doomed_key)
    # The other account, restored from the same backups, reads as before (its KEK is live).
    assert _open_phone(kept.account_id, kept_phone, kept_key) == PHONE
    kept_restored = _of_account(kept.account_id)

    replayed = handler.lambda_handler({"replay": True}, Context())

    assert replayed["logged"] == 1
    assert replayed["replayed"] == 1
    assert replayed["complete"] is True
    assert sum(replayed["items_deleted"].values()) >= 15
    left = _of_account(doomed.account_id)
    assert [i["sk"] for i in left["Messaging"]] == ["OPTOUT#idx-of-another-phone"]  # the tombstone, as the purge
    assert [i["sk"] for i in left["Accounts"]] == ["RECEIPT"]  # the deletion receipt, from the log
    assert left["Audit"], "the audit trail is append-only and stays"
    # What is left elsewhere already expired (mail counters, used tokens): reads ignore it, the expiry sweep of the
    # next hourly run deletes it, as it did in the live tables.
    now = int(clock.timestamp())
    for table_id, rows in left.items():
        if table_id not in ("Messaging", "Audit", "Accounts"):
            assert all(int(i["expires_at"]) <= now for i in rows), (table_id, rows)
    assert _of_account(kept.account_id) == kept_restored

    again = handler.lambda_handler({"replay": True}, Context())
    assert (again["logged"], again["replayed"], again["items_deleted"]) == (1, 0, {})
    handler.lambda_handler({}, Context())  # the next hourly run on the restored tables
    left = _of_account(doomed.account_id)
    assert {t: [i["sk"] for i in rows] for t, rows in left.items() if rows and t != "Audit"} == {
        "Accounts": ["RECEIPT"],
        "Messaging": ["OPTOUT#idx-of-another-phone"],
    }


class _Budget:
    """A Lambda deadline that runs out after `calls` checks (each check is one item of work)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> float:
        self.calls -= 1
        return 300.0 if self.calls > 0 else 1.0


def test_a_replay_during_an_unfinished_purge_leaves_the_purge_to_finish_and_sign(identity: dict[str, str]) -> None:
    world = populate("unfinished@restore.example")
    assert delete_account(world.owner).status == 202
    clock.advance(GRACE_S + 1)
    stopped = purge.run(time_left=_Budget(8))  # logged and shredded, then stopped before the partitions
    assert stopped.accounts.pending == 1
    envelope.forget_cached_keys()
    assert not keyring.get_kek(world.account_id)

    replayed = purge.replay()

    assert (replayed.logged, replayed.receipts_restored) == (1, 0)
    assert closure_dal.due_accounts(int(clock.timestamp()), limit=10), "the due entry stays for the purge"
    finished = purge.run()
    assert finished.accounts.purged == 1
    assert call("GET", f"/v1/deletion-receipts/{world.account_id}").status == 200
    (logged,) = list(keyring.deletions())
    assert logged.receipt  # the log now holds the signed receipt a later replay can put back
    assert purge.replay().replayed == 0
