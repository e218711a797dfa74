"""Request and response contracts of the API-key routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from switchboard import cards
from switchboard.models.one_time import ONE_TIME_SECRET
from switchboard.models.permissions import Role


class ApiKeyIn(BaseModel):
    """POST /v1/api-keys."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), BeforeValidator(cards.screen)
    ]
    role: Role
    expires_at: AwareDatetime | None = None


class RotateIn(BaseModel):
    """POST /v1/api-keys/{id}/rotate."""

    model_config = ConfigDict(extra="forbid")

    grace_s: int = Field(default=86400, ge=0, le=7 * 86400)


class ApiKeyCreated(BaseModel):
    """201: `key` appears in this response only."""

    id: str
    key: Annotated[str, ONE_TIME_SECRET]
    prefix: str
    name: str
    role: str
    expires_at: str


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    id: str
    prefix: str
    name: str
    role: str
    created_at: str
    expires_at: str
    last_used_at: str | None


class ApiKeyList(BaseModel):
    """GET /v1/api-keys."""

    data: list[ApiKeyOut]
    next_cursor: str | None = None
