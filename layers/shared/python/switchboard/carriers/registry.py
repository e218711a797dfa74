"""Carrier adapters by name: the one place that knows which carriers exist."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib import import_module
from typing import Protocol

from switchboard import settings
from switchboard.carriers import sandbox
from switchboard.carriers.base import Carrier, CarrierUnavailable, EventSource, MediaSource, RecordingSource


class Adapter(Carrier, EventSource, Protocol):
    """A real carrier: it sends, and it receives signed webhooks at `/v1/carriers/{name}/events`."""

    channels: frozenset[str]


# Tests only (tests/integration/live): carrier name -> base URL of a fake carrier on loopback, set by `point_at`.
# Code, never configuration: no environment variable, secret or stage setting reaches it, so a deployed adapter
# always calls its carrier's own HTTPS API (a test asserts nothing outside tests/ calls `point_at`).
_api_urls: dict[str, str] = {}


def _lazy(module: str, cls: str) -> Callable[[], Adapter]:
    # The adapters (and urllib3) load when a carrier is first used: cold starts that only use the sandbox skip them.
    def build() -> Adapter:
        url = _api_urls.get(module)
        adapter: Adapter = getattr(import_module(f"switchboard.carriers.{module}"), cls)(api_url=url)
        return adapter

    return build


# The real carriers (credentials from Secrets Manager, read on first use, never at import).
_REAL: dict[str, Callable[[], Adapter]] = {
    "whatsapp": _lazy("whatsapp", "WhatsAppCarrier"),
    "twilio": _lazy("twilio", "TwilioCarrier"),
    "plivo": _lazy("plivo", "PlivoCarrier"),
}

# Each entry builds its adapter on first use (credentials are read then, never at import).
_FACTORIES: dict[str, Callable[[], Carrier]] = {
    **{name: (lambda name=name: sandbox.SandboxCarrier(name)) for name in sandbox.NAMES},  # type: ignore[misc]
    **_REAL,
}


def names() -> tuple[str, ...]:
    """Every carrier of this stage, e.g. for validating `/v1/carriers/{carrier}/events` (the sandbox carriers only
    where the stage's rules have them: never deployed)."""
    sandboxed = settings.get().rules.sandbox_carriers
    return tuple(name for name in _FACTORIES if sandboxed or name not in sandbox.NAMES)


def carrier(name: str) -> Carrier:
    """The adapter called `name` (KeyError for an unknown carrier, or a sandbox one in a stage without them)."""
    if name not in names():
        raise KeyError(name)
    return _carrier(name)


@cache
def _carrier(name: str) -> Carrier:
    if name in _REAL:
        return adapter(name)
    return _FACTORIES[name]()


@cache
def adapter(name: str) -> Adapter:
    """The real carrier called `name`, both sides (KeyError for the sandbox carriers and unknown names)."""
    return _REAL[name]()


def event_source(name: str) -> EventSource:
    """The receiving side of the real carrier `name` (KeyError otherwise; sandbox events use sandbox.verify)."""
    return adapter(name)


def recording_source(name: str) -> RecordingSource:
    """The carrier `name` as a keeper of call recordings (CarrierUnavailable when it records none, or is unknown)."""
    try:
        found: object = carrier(name)
    except KeyError:
        raise CarrierUnavailable(f"no carrier {name!r}") from None
    if not all(hasattr(found, method) for method in ("fetch_recording", "delete_recording")):
        raise CarrierUnavailable(f"{name} keeps no recordings")
    source: RecordingSource = found  # type: ignore[assignment]
    return source


def media_source(name: str) -> MediaSource:
    """The carrier `name` as a keeper of inbound messages' files (CarrierUnavailable when unknown)."""
    try:
        found: object = carrier(name)
    except KeyError:
        raise CarrierUnavailable(f"no carrier {name!r}") from None
    if not hasattr(found, "fetch_media"):
        raise CarrierUnavailable(f"{name} keeps no media")
    source: MediaSource = found  # type: ignore[assignment]
    return source


def point_at(urls: Mapping[str, str]) -> None:
    """Tests only: build the real adapters against fake carriers at `urls` (name -> base URL); `{}` restores them."""
    unknown = sorted(set(urls) - set(_REAL))
    if unknown:
        raise KeyError(f"not a real carrier: {unknown}")
    _api_urls.clear()
    _api_urls.update(urls)
    _carrier.cache_clear()
    adapter.cache_clear()


def forget() -> None:
    """Drop every built adapter (tests that change credentials or endpoints)."""
    _carrier.cache_clear()
    adapter.cache_clear()
