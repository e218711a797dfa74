"""What every carrier adapter implements: submit one outbound message, get the carrier's receipt or an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Outbound:
    """One message to hand to a carrier (the body is already rendered; `template` for WhatsApp templates)."""

    message_id: str
    account_id: str
    channel: str  # sms | whatsapp | voice
    from_: str
    to: str
    body: str
    template: dict[str, Any] | None = None


@dataclass(frozen=True)
class Receipt:
    """The carrier accepted the message under its own id."""

    carrier: str
    carrier_message_id: str


class CarrierError(Exception):
    """A carrier could not take the message; routing may fail over to another carrier."""


class CarrierUnavailable(CarrierError):
    """The carrier refused or is down (answers at once)."""


class CarrierTimeout(CarrierError):
    """The carrier did not answer within the caller's timeout."""


class Carrier(Protocol):
    """A carrier adapter."""

    name: str

    def submit(self, msg: Outbound) -> Receipt:
        """Hand one message to the carrier; raises a CarrierError when it cannot."""
        ...
