"""One-time secrets in answers: a marked field is shown in its first answer only, never kept for a replay."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OneTimeSecret:
    """`Annotated[str, ONE_TIME_SECRET]`: the field holds a secret shown once (no effect on the JSON schema)."""

    def __repr__(self) -> str:
        return "ONE_TIME_SECRET"


ONE_TIME_SECRET = OneTimeSecret()


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The names of `model`'s fields marked as one-time secrets."""
    return [
        name
        for name, info in model.model_fields.items()
        if any(isinstance(item, OneTimeSecret) for item in info.metadata)
    ]


def shows_secret(model: BaseModel) -> bool:
    """True when this answer carries a one-time secret (a marked field that is set)."""
    values: dict[str, Any] = {name: getattr(model, name, None) for name in secret_fields(type(model))}
    return any(value is not None for value in values.values())
