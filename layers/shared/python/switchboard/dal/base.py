"""The PynamoDB base model: table names bound from settings on first use, keys `pk`/`sk`, TTL on `expires_at`."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from switchboard import settings


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
