"""The PynamoDB base model: table names bound from settings on first use, keys `pk`/`sk`, TTL on `expires_at`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from switchboard import settings
from switchboard.dal import clients

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from pynamodb.expressions.update import Action

_Record = TypeVar("_Record", bound="DataclassInstance")


class TableName:
    """Resolves a model's physical table name from its catalog env var when PynamoDB first needs it."""

    def __init__(self, env: str) -> None:
        self.env = env

    def __get__(self, instance: object, owner: type) -> str:
        return settings.get().table(self.env)


class BaseItem(Model):
    """Every item: string partition and sort keys, as every table in `switchboard/catalog.py` declares."""

    TABLE_ENV: ClassVar[str] = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TABLE_ENV:
            cls.Meta.table_name = TableName(cls.TABLE_ENV)  # type: ignore[assignment]


def update_while_present(item: BaseItem, actions: Sequence[Action]) -> None:
    """Apply `actions` only while the item exists: a concurrent delete wins and nothing brings the item back."""
    try:
        item.update(actions=list(actions), condition=type(item).pk.exists())
    except UpdateError as error:
        if not clients.conditional_failed(error):
            raise


def record_of(kind: type[_Record], item: BaseItem, **overrides: Any) -> _Record:
    """The frozen record of a stored item: absent attributes take the record's defaults, lists become tuples."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        value = getattr(item, field.name, None)
        if value is None and field.default is not dataclasses.MISSING:
            continue
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return kind(**values | overrides)
