"""Message templates (the account's registry of approved WhatsApp templates): request and response contracts."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Meta's limits for a template: a body of at most 1024 characters; we allow at most 20 numbered placeholders.
MAX_TEMPLATE_BODY_CHARS = 1024
MAX_PARAMETERS = 20
MAX_PARAMETER_CHARS = 1024  # one parameter's text, like Meta's body text
NAME_PATTERN = r"^[a-z0-9_]{1,512}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
PLACEHOLDER = re.compile(r"\{\{\s*(\d{1,3})\s*\}\}")
TemplateStatus = Literal["approved", "pending", "rejected"]


def placeholders(body: str) -> int:
    """How many parameters a template body takes: its placeholders are exactly {{1}}..{{n}}, each at least once."""
    numbers = {int(n) for n in PLACEHOLDER.findall(body)}
    if numbers != set(range(1, len(numbers) + 1)):
        raise ValueError("placeholders must be numbered {{1}}, {{2}}, ... without gaps")
    if len(numbers) > MAX_PARAMETERS:
        raise ValueError(f"at most {MAX_PARAMETERS} placeholders")
    return len(numbers)


def _placeholders_valid(body: str) -> str:
    placeholders(body)
    return body


def render(body: str, parameters: list[str]) -> str:
    """The template's text with each {{n}} replaced by parameter n (plain substitution, nothing evaluated)."""
    return PLACEHOLDER.sub(lambda m: parameters[int(m.group(1)) - 1], body)


# Built on first use (defer_build): the send path imports this module for its patterns, not these models.
class TemplateIn(BaseModel):
    """POST /v1/templates: a template as WhatsApp registers one (`{{1}}`, `{{2}}`, ... are its parameters)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    language: str = Field(pattern=LANGUAGE_PATTERN)
    category: Literal["marketing", "utility", "authentication"] = "utility"
    body: Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_BODY_CHARS), AfterValidator(_placeholders_valid)]


class TemplateOut(BaseModel):
    """A template of the account."""

    model_config = ConfigDict(defer_build=True)

    id: str
    name: str
    language: str
    category: str
    body: str
    parameters: int  # how many parameters a send must give
    status: TemplateStatus
    created_at: str


class TemplateList(BaseModel):
    """GET /v1/templates."""

    model_config = ConfigDict(defer_build=True)

    data: list[TemplateOut]
    next_cursor: str | None = None
