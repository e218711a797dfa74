"""Contracts of the operator secrets routes: versions and dates of the rotatable platform secrets, never a value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SecretVersionOut(BaseModel):
    """One version of a secret: its name in the secret, number, when it was added (null: at deploy)."""

    model_config = ConfigDict(defer_build=True)

    version: str
    number: int
    created_at: str | None
    current: bool


class SecretOut(BaseModel):
    """A rotatable secret and its versions, newest first."""

    model_config = ConfigDict(defer_build=True)

    name: str
    purpose: str
    versions: list[SecretVersionOut]


class SecretList(BaseModel):
    """GET /ops/v1/secrets."""

    model_config = ConfigDict(defer_build=True)

    data: list[SecretOut]


class SecretRotatedOut(BaseModel):
    """POST /ops/v1/secrets/{secret}/rotate: the new current version and the one it replaced (still verifying)."""

    model_config = ConfigDict(defer_build=True)

    name: str
    version: str
    created_at: str | None
    previous: str
