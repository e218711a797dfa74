"""The Keyring table: each account's data key, wrapped by KMS under encryption context {account_id}."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import BinaryAttribute, NumberAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

KEY_SK = "DATAKEY"


class KeyringItem(BaseItem):
    """pk = ACCT#<id>, sk = DATAKEY: the KMS-wrapped data key and its version."""

    TABLE_ENV: ClassVar[str] = catalog.table("Keyring").env

    class Meta:
        table_name = ""

    wrapped_key = BinaryAttribute(legacy_encoding=False)
    version = NumberAttribute(default=1)


def get_wrapped(account_id: str) -> bytes | None:
    """The account's wrapped data key, or None once it was shredded (or never made)."""
    try:
        item = KeyringItem.get(account_pk(account_id), KEY_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return bytes(item.wrapped_key)


def put_wrapped_once(account_id: str, wrapped: bytes) -> bool:
    """Store the account's first data key; False if another writer stored one first (theirs wins)."""
    item = KeyringItem(account_pk(account_id), KEY_SK, wrapped_key=wrapped, version=1)
    try:
        item.save(condition=KeyringItem.pk.does_not_exist())
    except PutError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def delete(account_id: str) -> None:
    """Forget the account's data key: everything sealed with it becomes unreadable."""
    KeyringItem(account_pk(account_id), KEY_SK).delete()
