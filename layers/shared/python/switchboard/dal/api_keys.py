"""API keys in the Accounts table: `ACCT#<id>` / `APIKEY#<key_id>`, plus the global `KEYID#<key_id>` lookup."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import caps, clients
from switchboard.dal.base import BaseItem, record_of, update_while_present
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


@dataclass(frozen=True)
class ApiKey:
    """An API key as logic sees it: its secret is only ever the peppered HMAC `secret_hash` (R26)."""

    key_id: str
    account_id: str
    name: str
    role: str
    mode: str
    secret_hash: str
    pepper_version: str
    created_by: str
    created_at: int
    expires_at: int  # expiry, or the end of a rotation's grace period
    lifetime_ends_at: int | None = None  # the expiry its creator chose: what a rotation's successor inherits
    last_used_at: int | None = None
    cap_slot: str | None = None  # the account's cap slot it holds (set when stored)


def _record(item: ApiKeyItem) -> ApiKey:
    return record_of(ApiKey, item)


def _item(key: ApiKey) -> ApiKeyItem:
    return ApiKeyItem(account_pk(key.account_id), key_sk(key.key_id), **asdict(key))


def _lookup_pk(key_id: str) -> str:
    return f"KEYID#{key_id}"


def put(key: ApiKey, *, cap: int) -> ApiKey:
    """Store a new key and its lookup at once, in one of the account's `cap` slots (caps.CapReached); as stored."""
    item = _item(key)
    lookup = KeyLookupItem(_lookup_pk(key.key_id), LOOKUP_SK, account_id=key.account_id, expires_at=key.expires_at)

    def writes(transaction: TransactWrite, slot: str) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=ApiKeyItem.pk.does_not_exist())
        transaction.save(lookup, condition=KeyLookupItem.pk.does_not_exist())

    caps.claim(key.account_id, CAP_KIND, cap, holder=item.sk, expires_at=key.expires_at, writes=writes)
    return replace(key, cap_slot=item.cap_slot)


def get(account_id: str, key_id: str) -> ApiKey | None:
    """One key of the account, or None."""
    try:
        return _record(ApiKeyItem.get(account_pk(account_id), key_sk(key_id), consistent_read=True))
    except DoesNotExist:
        return None


def find(key_id: str) -> ApiKey | None:
    """A key by its id alone (the authorizer), or None."""
    try:
        lookup = KeyLookupItem.get(_lookup_pk(key_id), LOOKUP_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return get(lookup.account_id, key_id)


def list_keys(account_id: str) -> list[ApiKey]:
    """Every key of the account, oldest first."""
    return [_record(i) for i in ApiKeyItem.query(account_pk(account_id), ApiKeyItem.sk.startswith("APIKEY#"))]


def delete(key: ApiKey) -> None:
    """Revoke: the key, its lookup and its slot are gone at once."""
    sk = key_sk(key.key_id)

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(ApiKeyItem(account_pk(key.account_id), sk))
        transaction.delete(KeyLookupItem(_lookup_pk(key.key_id), LOOKUP_SK))
        if with_slot:
            caps.free(transaction, key.account_id, key.cap_slot, sk)

    caps.freeing(build)


def shorten(key: ApiKey, until: int) -> None:
    """End a key's life at `until` (revocation, rotation grace), never later: its slot frees up at the same time."""
    if until >= key.expires_at:
        return
    sk = key_sk(key.key_id)

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.update(
            ApiKeyItem(account_pk(key.account_id), sk),
            actions=[ApiKeyItem.expires_at.set(until)],
            condition=ApiKeyItem.pk.exists(),
        )
        if with_slot:
            caps.set_expiry(transaction, key.account_id, key.cap_slot, sk, until)

    caps.freeing(build)


def touch(key: ApiKey, now: int) -> None:
    """Record a use (at most once a minute, by the caller's choice)."""
    update_while_present(ApiKeyItem(account_pk(key.account_id), key_sk(key.key_id)), [ApiKeyItem.last_used_at.set(now)])


def rehash(key: ApiKey, secret_hash: str, pepper_version: str) -> bool:
    """Store the key's HMAC under another pepper version (rehash on use after a rotation); False when the stored
    hash changed meanwhile (a concurrent use rehashed it first) or the key is gone."""
    try:
        ApiKeyItem(account_pk(key.account_id), key_sk(key.key_id)).update(
            actions=[ApiKeyItem.secret_hash.set(secret_hash), ApiKeyItem.pepper_version.set(pepper_version)],
            condition=ApiKeyItem.secret_hash == key.secret_hash,
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True
