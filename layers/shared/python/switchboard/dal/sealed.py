"""Sealing for the PynamoDB repositories (Accounts, Sessions): a value bound to its item's table, key and field.

A module of its own so that the repositories' modules stay free of `cryptography` for the functions that only read
keys (the authorizer); the modules that seal already import the envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from switchboard import catalog
from switchboard.crypto import envelope
from switchboard.dal import accounts

if TYPE_CHECKING:
    from switchboard.dal.accounts import UserItem
    from switchboard.dal.members import InvitationItem
    from switchboard.dal.sessions import SessionItem

    Sealable: TypeAlias = UserItem | InvitationItem | SessionItem
# The catalog ids that are part of every sealed field's associated data.
_TABLES = {t.env: t.id for t in catalog.TABLES}


def binding(table_env: str, pk: str, sk: str, field: str) -> dict[str, str]:
    """The associated data a field is sealed to: its table (catalog id), its item's key and its name."""
    return {"table": _TABLES[table_env], "item_key": accounts.item_key(pk, sk), "field": field}


def seal(item: Sealable, field: str, value: str) -> str:
    """`value` sealed with its account's key to this item (its table and key) and `field`."""
    return envelope.seal(item.account_id, value, **binding(item.TABLE_ENV, item.pk, item.sk, field))


def open_field(item: Sealable, field: str, sealed: str) -> str:
    """A value `seal` sealed to this item and field, in clear (never logged)."""
    return envelope.open_sealed(item.account_id, sealed, **binding(item.TABLE_ENV, item.pk, item.sk, field))
