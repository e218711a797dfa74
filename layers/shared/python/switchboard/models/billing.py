"""The payment provider's events we act on (Stripe's shapes), read leniently: only the fields we use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    # The provider adds fields at will; we read ours and drop the rest (nothing else is stored).
    model_config = ConfigDict(extra="ignore")


class Price(_Lenient):
    """A subscription item's price: `lookup_key` names our plan."""

    lookup_key: str | None = None


class SubscriptionItem(_Lenient):
    """One line of a subscription."""

    price: Price = Field(default_factory=Price)


class SubscriptionItems(_Lenient):
    """The subscription's lines."""

    data: list[SubscriptionItem] = Field(default_factory=list)


class Subscription(_Lenient):
    """`data.object` of a `customer.subscription.*` event."""

    id: str = Field(min_length=1, max_length=255)
    customer: str = Field(min_length=1, max_length=255)
    status: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    items: SubscriptionItems = Field(default_factory=SubscriptionItems)


class EventData(_Lenient):
    """`data` of an event (the object is parsed per type)."""

    object: dict[str, Any] = Field(default_factory=dict)


class BillingEvent(_Lenient):
    """The envelope of every provider event."""

    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    created: int = Field(ge=0)
    data: EventData = Field(default_factory=EventData)


class BillingAnswer(BaseModel):
    """200 of POST /v1/billing/events: what became of the event."""

    status: str  # applied | duplicate | ignored
