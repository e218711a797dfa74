"""Recipients, consent entries and lists: request and response contracts, E.164 parsing and masking."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard import cards
from switchboard.catalog import Channel

ConsentStatus = Literal["opted_in", "opted_out"]
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTES_BYTES = 4096
MAX_LIST_ADD = 500
# What parse_phone accepts syntactically; the numbering plan check (a 422 with its reason) JSON Schema cannot express.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_E164 = re.compile(E164_PATTERN, re.ASCII)


class InvalidPhone(ValueError):
    """Not a valid E.164 number."""


@dataclass(frozen=True)
class Phone:
    """A validated number: its E.164 form and its ISO country (routing is per country)."""

    e164: str
    country: str


def parse_phone(raw: str) -> Phone:
    """Parse and validate an E.164 number (`+` and digits only, a number that exists in its region's plan)."""
    import phonenumbers  # noqa: PLC0415 - the numbering plans load where a number is read, not in every worker

    value = raw.strip()
    # ASCII digits only, as the request model's pattern says: `str.isdigit` also takes `²` and Arabic-Indic digits,
    # which phonenumbers would quietly read as other numbers than the one written.
    if not _E164.fullmatch(value):
        raise InvalidPhone("Use E.164: + then the country code and number, digits only.")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone("Not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("Not a valid phone number in its country's numbering plan.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != value:
        # phonenumbers drops a national trunk prefix (`+20 0…`): the number stored and dialled would not be the one
        # written, and two spellings would be two recipients to the caller but one to us.
        raise InvalidPhone(f"Not in E.164 form: write {e164} (no national trunk prefix).")
    return Phone(e164=e164, country=phonenumbers.region_code_for_number(number) or "ZZ")


def mask_phone(e164: str) -> str:
    """`+1******4567`: the country code and the last four digits, the rest starred (viewers, logs)."""
    import phonenumbers  # noqa: PLC0415

    try:
        code = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        code = ""
    digits = e164.lstrip("+")
    if len(digits) <= len(code) + 4:
        return "+" + "*" * len(digits)
    return "+" + code + "*" * (len(digits) - len(code) - 4) + digits[-4:]


# Built on first use (defer_build): the workers reach this module through logic and the message models and never
# validate a recipient request or answer; an API route builds the ones it uses with its first request.
class RecipientIn(BaseModel):
    """`POST /v1/recipients`."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    phone: str = Field(min_length=1, max_length=32, json_schema_extra={"pattern": E164_PATTERN})
    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return parse_phone(value).e164

    # Before any other check: a card number is named as such, whatever else is wrong with the field.
    @field_validator("name", "attributes", mode="before")
    @classmethod
    def _no_card_data(cls, value: Any) -> Any:
        return cards.screen(value)

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"At most {MAX_ATTRIBUTES} attributes.")
        if any(not 1 <= len(k) <= 64 for k in value):
            raise ValueError("Attribute names are 1 to 64 characters.")
        if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"Attributes take at most {MAX_ATTRIBUTES_BYTES} bytes as JSON.")
        return value


class Consent(BaseModel):
    """The current consent per channel (the latest ledger entry; null: never recorded, so not opted in)."""

    model_config = ConfigDict(defer_build=True)

    sms: ConsentStatus | None = None
    whatsapp: ConsentStatus | None = None
    voice: ConsentStatus | None = None


class RecipientOut(BaseModel):
    """A recipient as the API shows it (viewers get a masked phone)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    phone: str
    name: str | None = None
    country: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    consent: Consent
    created_at: str


class RecipientPage(BaseModel):
    """A page of recipients."""

    model_config = ConfigDict(defer_build=True)

    data: list[RecipientOut]
    next_cursor: str | None = None


class Evidence(BaseModel):
    """How consent was captured (kept sealed: it names a person's IP and browser)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    text_version: str | None = Field(default=None, max_length=100)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    captured_at: str | None = Field(default=None, max_length=40)

    @field_validator("text_version", "ip", "user_agent", "captured_at", mode="before")
    @classmethod
    def _no_card_data(cls, value: Any) -> Any:
        return cards.screen(value)


class ConsentIn(BaseModel):
    """`POST /v1/recipients/{id}/consents`."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    channel: Channel
    status: ConsentStatus
    source: str = Field(pattern=r"^[a-z][a-z_]{1,31}$")
    evidence: Evidence | None = None


class ConsentEntry(BaseModel):
    """One ledger entry."""

    model_config = ConfigDict(defer_build=True)

    id: str
    recipient_id: str
    channel: Channel
    status: ConsentStatus
    source: str
    evidence: Evidence | None = None
    # An opt-in the account recorded over an opt-out it had recorded (never over the person's own STOP), with
    # evidence: flagged so that the ledger never reads like the person's own opt-in.
    overrides_opt_out: bool = False
    overridden_entry_id: str | None = None
    at: str


class ConsentLedger(BaseModel):
    """`GET /v1/recipients/{id}/consents`: oldest first."""

    model_config = ConfigDict(defer_build=True)

    data: list[ConsentEntry]
    next_cursor: str | None = None


class ListIn(BaseModel):
    """`POST /v1/lists`."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)

    @field_validator("name", mode="before")
    @classmethod
    def _no_card_data(cls, value: Any) -> Any:
        return cards.screen(value)


class ListOut(BaseModel):
    """A recipient list."""

    model_config = ConfigDict(defer_build=True)

    id: str
    name: str
    created_at: str


class ListMembersIn(BaseModel):
    """`POST /v1/lists/{id}/recipients`."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    recipient_ids: list[str] = Field(min_length=1, max_length=MAX_LIST_ADD)


class ListMembersAdded(BaseModel):
    """What was added; ids that are not recipients of this account are reported, never added."""

    model_config = ConfigDict(defer_build=True)

    list_id: str
    added: int
    not_found: list[str]
