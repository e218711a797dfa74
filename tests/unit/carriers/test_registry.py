"""The registry knows the real carriers, builds each once, and reads no credentials until one is used."""

from __future__ import annotations

from pathlib import Path

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


def test_registry_adapters_call_the_carriers_own_https_apis_unless_a_test_points_them_elsewhere() -> None:
    public = {
        "twilio": "https://api.twilio.com",
        "plivo": "https://api.plivo.com",
        "whatsapp": "https://graph.facebook.com",
    }
    registry.point_at({})
    assert {name: registry.adapter(name)._api_url for name in public} == public
    registry.point_at({"twilio": "http://127.0.0.1:9"})
    try:
        assert registry.adapter("twilio")._api_url == "http://127.0.0.1:9"
        assert registry.adapter("plivo")._api_url == public["plivo"]
    finally:
        registry.point_at({})
    assert registry.adapter("twilio")._api_url == public["twilio"]
    with pytest.raises(KeyError):
        registry.point_at({"sandbox-a": "http://127.0.0.1:9"})


def test_registry_point_at_is_called_from_tests_only() -> None:
    # The seam is code, not configuration; this keeps it out of every deployed or local-stack code path.
    root = Path(__file__).resolve().parents[3]
    callers = [
        path.relative_to(root).as_posix()
        for folder in ("functions", "layers/shared/python", "local", "infra", "bench")
        for path in (root / folder).rglob("*.py")
        if "point_at" in path.read_text(encoding="utf-8") and path.name != "registry.py"
    ]
    assert callers == []
    assert "point_at" not in (root / "app.py").read_text(encoding="utf-8")
