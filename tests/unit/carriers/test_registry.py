"""The registry knows the real carriers, builds each once, and reads no credentials until one is used."""

from __future__ import annotations

import pytest

from switchboard.carriers import registry
from switchboard.carriers.plivo import PlivoCarrier
from switchboard.carriers.twilio import TwilioCarrier
from switchboard.carriers.whatsapp import WhatsAppCarrier


def test_registry_lists_and_builds_the_real_carriers_once() -> None:
    assert {"whatsapp", "twilio", "plivo", "sandbox-a", "sandbox-b"} == set(registry.names())
    assert isinstance(registry.carrier("whatsapp"), WhatsAppCarrier)
    assert isinstance(registry.carrier("twilio"), TwilioCarrier)
    assert isinstance(registry.carrier("plivo"), PlivoCarrier)
    assert registry.carrier("twilio") is registry.event_source("twilio") is registry.adapter("twilio")


def test_registry_event_source_is_only_for_real_carriers() -> None:
    with pytest.raises(KeyError):
        registry.event_source("sandbox-a")
    with pytest.raises(KeyError):
        registry.event_source("nope")


def test_registry_channels_per_carrier() -> None:
    assert registry.adapter("whatsapp").channels == {"whatsapp"}
    assert registry.adapter("twilio").channels == {"sms", "whatsapp", "voice"}
    assert registry.adapter("plivo").channels == {"sms", "voice"}
