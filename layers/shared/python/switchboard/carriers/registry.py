"""Carrier adapters by name: the one place that knows which carriers exist."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Protocol

from switchboard import settings
from switchboard.carriers import sandbox
from switchboard.carriers.base import Carrier, EventSource


class Adapter(Carrier, EventSource, Protocol):
    """A real carrier: it sends, and it receives signed webhooks at `/v1/carriers/{name}/events`."""

    channels: frozenset[str]


def _lazy(module: str, cls: str) -> Callable[[], Adapter]:
    # The adapters (and urllib3) load when a carrier is first used: cold starts that only use the sandbox skip them.
    def build() -> Adapter:
        adapter: Adapter = getattr(import_module(f"switchboard.carriers.{module}"), cls)()
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


def forget() -> None:
    """Drop every built adapter (tests that change credentials or endpoints)."""
    _carrier.cache_clear()
    adapter.cache_clear()
