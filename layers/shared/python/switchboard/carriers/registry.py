"""Carrier adapters by name: the one place that knows which carriers exist."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from switchboard.carriers import sandbox
from switchboard.carriers.base import Carrier

# Each entry builds its adapter on first use (credentials are read then, never at import).
_FACTORIES: dict[str, Callable[[], Carrier]] = {
    **{name: (lambda name=name: sandbox.SandboxCarrier(name)) for name in sandbox.NAMES},  # type: ignore[misc]
}


def names() -> tuple[str, ...]:
    """Every carrier name, e.g. for validating `/v1/carriers/{carrier}/events`."""
    return tuple(_FACTORIES)


@cache
def carrier(name: str) -> Carrier:
    """The adapter called `name` (KeyError for an unknown carrier)."""
    return _FACTORIES[name]()
