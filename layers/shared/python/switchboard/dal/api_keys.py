"""API keys in the Accounts table: `ACCT#<id>` / `APIKEY#<key_id>`, plus the global `KEYID#<key_id>` lookup."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import caps, clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

LOOKUP_SK = "KEYID"
CAP_KIND = "api_keys"


def key_sk(key_id: str) -> str:
    """The sort key of an API key under its account."""
    return f"APIKEY#{key_id}"


class ApiKeyItem(BaseItem):
    """An API key: only the peppered HMAC of its secret is kept (R26)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    key_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    mode = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    pepper_version = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    last_used_at = NumberAttribute(null=True)
    expires_at = NumberAttribute()  # expiry, or the end of a rotation's grace period; TTL/purge remove it after
    # The expiry its creator chose, which a rotation's grace period never changes: what a successor inherits.
    lifetime_ends_at = NumberAttribute(null=True)
    cap_slot = UnicodeAttribute(null=True)  # the slot it holds under the account's cap until it expires (dal.caps)


class KeyLookupItem(BaseItem):
    """Global: pk = KEYID#<key_id>, sk = KEYID → the owning account (the key id is in every key string)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    expires_at = NumberAttribute()


def new_key(account_id: str, key_id: str, **attributes: Any) -> ApiKeyItem:
    """A key (not stored yet) under its account."""
    return ApiKeyItem(account_pk(account_id), key_sk(key_id), key_id=key_id, account_id=account_id, **attributes)


def put(item: ApiKeyItem, *, cap: int) -> None:
    """Store a new key and its lookup at once, in one of the account's `cap` slots (caps.CapReached)."""
    lookup = KeyLookupItem(
        f"KEYID#{item.key_id}", LOOKUP_SK, account_id=item.account_id, expires_at=int(item.expires_at)
    )

    def writes(transaction: TransactWrite, slot: str) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=ApiKeyItem.pk.does_not_exist())
        transaction.save(lookup, condition=KeyLookupItem.pk.does_not_exist())

    caps.claim(item.account_id, CAP_KIND, cap, holder=item.sk, expires_at=int(item.expires_at), writes=writes)


def get(account_id: str, key_id: str) -> ApiKeyItem | None:
    """One key of the account, or None."""
    try:
        return ApiKeyItem.get(account_pk(account_id), key_sk(key_id), consistent_read=True)
    except DoesNotExist:
        return None


def find(key_id: str) -> ApiKeyItem | None:
    """A key by its id alone (the authorizer), or None."""
    try:
        lookup = KeyLookupItem.get(f"KEYID#{key_id}", LOOKUP_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return get(lookup.account_id, key_id)


def list_keys(account_id: str) -> list[ApiKeyItem]:
    """Every key of the account, oldest first."""
    return list(ApiKeyItem.query(account_pk(account_id), ApiKeyItem.sk.startswith("APIKEY#")))


def delete(item: ApiKeyItem) -> None:
    """Revoke: the key, its lookup and its slot are gone at once."""

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(item)
        transaction.delete(KeyLookupItem(f"KEYID#{item.key_id}", LOOKUP_SK))
        if with_slot:
            caps.free(transaction, item.account_id, item.cap_slot, item.sk)

    caps.freeing(build)


def shorten(item: ApiKeyItem, until: int) -> None:
    """End a key's life at `until` (revocation, rotation grace), never later: its slot frees up at the same time."""
    if until >= int(item.expires_at):
        return

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.update(item, actions=[ApiKeyItem.expires_at.set(until)], condition=ApiKeyItem.pk.exists())
        if with_slot:
            caps.set_expiry(transaction, item.account_id, item.cap_slot, item.sk, until)

    caps.freeing(build)


def touch(item: ApiKeyItem, now: int) -> None:
    """Record a use (at most once a minute, by the caller's choice)."""
    try:
        item.update(actions=[ApiKeyItem.last_used_at.set(now)], condition=ApiKeyItem.pk.exists())
    except UpdateError as error:
        if not clients.conditional_failed(error):
            raise
