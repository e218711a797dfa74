"""Item schemas for the low-level client's tables (Audit, Idempotency, Limits): typed fields declared once, as a
dataclass, and converted to and from DynamoDB attribute values by their annotations.

These tables sit on every request's path (rate limit, idempotency, audit), so they are read and written with the
boto3 client directly; PynamoDB models (Accounts, Sessions) would add their import to every cold start.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

Item = dict[str, dict[str, Any]]


def encode(value: Any) -> dict[str, Any]:
    """One plain value (str, int, bool, or a map of them) as a DynamoDB attribute value."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): encode(v) for k, v in value.items()}}
    raise TypeError(f"item values are str, int, bool or maps of them, not {type(value).__name__}")


def decode(attr: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as a plain value (numbers are whole: no table here stores fractions)."""
    if "S" in attr:
        return attr["S"]
    if "BOOL" in attr:
        return bool(attr["BOOL"])
    if "N" in attr:
        return int(attr["N"])
    if "M" in attr:
        return {k: decode(v) for k, v in attr["M"].items()}
    raise ValueError(f"unexpected attribute type {sorted(attr)}")


_TYPES: dict[type, dict[str, type]] = {}


def _types(cls: type) -> dict[str, type]:
    if cls in _TYPES:
        return _TYPES[cls]
    hints = typing.get_type_hints(cls)
    found: dict[str, type] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType):  # `str | None`: an optional attribute of that type
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        found[field.name] = hint
    _TYPES[cls] = found
    return found


def _coerce(kind: type, value: Any, default: Any) -> Any:
    """A stored value of the wrong type reads as the field's default (a damaged item never raises here)."""
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if kind is bool:
        return value if isinstance(value, bool) else default
    if kind is str:
        return value if isinstance(value, str) else default
    return value


@dataclasses.dataclass(frozen=True)
class Schema:
    """Base of an item schema: a frozen dataclass whose fields are the item's attributes (keys included)."""

    KEY: ClassVar[tuple[str, str]] = ("pk", "sk")

    def to_item(self) -> Item:
        """The item as attribute values; None fields are left out."""
        return {name: encode(value) for name, value in dataclasses.asdict(self).items() if value is not None}

    def key(self) -> Item:
        """The item's primary key as attribute values."""
        item = self.to_item()
        return {name: item[name] for name in self.KEY}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """The schema's fields from a stored item; a missing attribute reads as its default."""
        kinds = _types(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            default = field.default if field.default is not dataclasses.MISSING else None
            attr = item.get(field.name)
            values[field.name] = default if attr is None else _coerce(kinds[field.name], decode(attr), default)
        return cls(**values)
