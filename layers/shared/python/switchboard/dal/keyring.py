"""The Keyring table (each account's wrapped data key) and the KeyEncryptionKeys table (each account's KEK).

A data key is `version` 2: AES-GCM-wrapped by its account's key-encryption key, which lives, KMS-wrapped, in a table
with neither PITR nor AWS Backup; version 1 (before KEKs) is the data key wrapped by KMS alone, still opened and
rewrapped by the `kek_migration_job`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pynamodb.attributes import BinaryAttribute, NumberAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

KEY_SK = "DATAKEY"
KEK_SK = "KEK"
KMS_WRAPPED = 1  # the data key is a KMS ciphertext (before key-encryption keys)
KEK_WRAPPED = 2  # the data key is wrapped by the account's key-encryption key


class KeyringItem(BaseItem):
    """pk = ACCT#<id>, sk = DATAKEY: the wrapped data key and how it is wrapped (`version`)."""

    TABLE_ENV: ClassVar[str] = catalog.table(catalog.KEYRING).env

    class Meta:
        table_name = ""

    wrapped_key = BinaryAttribute(legacy_encoding=False)
    version = NumberAttribute(default=KMS_WRAPPED)


class KekItem(BaseItem):
    """pk = ACCT#<id>, sk = KEK: the account's key-encryption key, a KMS ciphertext (never rewritten)."""

    TABLE_ENV: ClassVar[str] = catalog.table(catalog.KEK_TABLE).env

    class Meta:
        table_name = ""

    wrapped_kek = BinaryAttribute(legacy_encoding=False)


def _save_once(item: KeyringItem | KekItem) -> bool:
    # Keys are written once and never replaced: the first writer wins, a later one reads the winner's key.
    try:
        item.save(condition=type(item).pk.does_not_exist())
    except PutError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


@dataclass(frozen=True)
class Wrapped:
    """A stored data key: its bytes and how they are wrapped."""

    key: bytes
    version: int


def get_wrapped(account_id: str) -> Wrapped | None:
    """The account's wrapped data key, or None once it was shredded (or never made)."""
    try:
        item = KeyringItem.get(account_pk(account_id), KEY_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return Wrapped(bytes(item.wrapped_key), int(item.version))


def put_wrapped_once(account_id: str, wrapped: bytes, *, version: int = KEK_WRAPPED) -> bool:
    """Store the account's first data key; False if another writer stored one first (theirs wins)."""
    return _save_once(KeyringItem(account_pk(account_id), KEY_SK, wrapped_key=wrapped, version=version))


def replace_wrapped(account_id: str, old: Wrapped, new: bytes) -> bool:
    """Rewrap a KMS-wrapped data key under the KEK, only while it is still exactly `old` (False otherwise)."""
    item = KeyringItem(account_pk(account_id), KEY_SK)
    try:
        item.update(
            actions=[KeyringItem.wrapped_key.set(new), KeyringItem.version.set(KEK_WRAPPED)],
            condition=(KeyringItem.wrapped_key == old.key) & (KeyringItem.version == old.version),
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def kms_wrapped_accounts() -> Iterator[str]:
    """Accounts whose data key is still wrapped by KMS alone (the migration's work list; a Scan)."""
    for item in KeyringItem.scan(KeyringItem.version == KMS_WRAPPED, attributes_to_get=["pk"]):
        yield item.pk.removeprefix("ACCT#")


def get_kek(account_id: str) -> bytes | None:
    """The account's KMS-wrapped key-encryption key, or None once it was shredded (or never made)."""
    try:
        item = KekItem.get(account_pk(account_id), KEK_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return bytes(item.wrapped_kek)


def put_kek_once(account_id: str, wrapped: bytes) -> bool:
    """Store the account's key-encryption key; False if another writer stored one first (theirs wins)."""
    return _save_once(KekItem(account_pk(account_id), KEK_SK, wrapped_kek=wrapped))


def delete_kek(account_id: str) -> None:
    """Forget the account's key-encryption key: its data key, in the table and in every restored copy, is noise."""
    KekItem(account_pk(account_id), KEK_SK).delete()


def delete(account_id: str) -> None:
    """Forget the account's wrapped data key (after its KEK)."""
    KeyringItem(account_pk(account_id), KEY_SK).delete()


# The deletion log (R61): one item per purged account in the KeyEncryptionKeys table, which no restore brings back
# or rolls back, so a restore of any other table replays it (logic.purge.replay). Kept past every copy's age.
LOG_PK = "DELETION#LOG"
LOG_KEEP_S = 400 * 86400


@dataclass(frozen=True)
class Deletion:
    """One purged (or being purged) account: when, its `PURGE#DUE` time, and its signed receipt once complete."""

    account_id: str
    purge_after: int
    started_at: int
    receipt: str = ""  # the signed receipt document (JSON), once the purge completed


def log_deletion(deletion: Deletion) -> None:
    """Write (or complete) the account's deletion-log entry."""
    item: dict[str, Any] = {
        "pk": {"S": LOG_PK},
        "sk": {"S": deletion.account_id},
        "account_id": {"S": deletion.account_id},
        "purge_after": {"N": str(deletion.purge_after)},
        "started_at": {"N": str(deletion.started_at)},
        "expires_at": {"N": str(deletion.started_at + LOG_KEEP_S)},
    }
    if deletion.receipt:
        item["receipt"] = {"S": deletion.receipt}
    clients.dynamodb().put_item(TableName=settings.get().table(KekItem.TABLE_ENV), Item=item)


def deletions() -> Iterator[Deletion]:
    """Every entry of the deletion log (a Query on its partition, page by page)."""
    paginator = clients.dynamodb().get_paginator("query")
    pages = paginator.paginate(
        TableName=settings.get().table(KekItem.TABLE_ENV),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": LOG_PK}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page.get("Items", []):
            yield Deletion(
                account_id=item["account_id"]["S"],
                purge_after=int(item["purge_after"]["N"]),
                started_at=int(item["started_at"]["N"]),
                receipt=item.get("receipt", {}).get("S", ""),
            )
