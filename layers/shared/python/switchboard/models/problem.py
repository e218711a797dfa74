"""The RFC 9457 problem document's schema (OpenAPI), apart from the errors so raising one never loads pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class FieldError(BaseModel):
    """One invalid field of a 422 `validation_failed`: a JSON pointer into the request and what is wrong."""

    pointer: str
    message: str


def _absent_not_null(schema: dict[str, Any]) -> None:
    for member in schema.get("properties", {}).values():
        if "default" in member and member["default"] is None:
            del member["default"]


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error answer carries it (the Lambdas' and the gateway's alike).

    Some codes add members of their own (`errors` for validation, `existing_id` for a duplicate recipient, ...).
    """

    model_config = ConfigDict(extra="allow", json_schema_extra=_absent_not_null)

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    request_id: str
    # Absent rather than null when there is none (the gateway's own answers have no instance).
    instance: str | SkipJsonSchema[None] = None
    errors: list[FieldError] | SkipJsonSchema[None] = None
