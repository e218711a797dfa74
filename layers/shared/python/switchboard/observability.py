"""Logger, tracer and metrics shared by every function; the X-Ray SDK loads on first invocation, not at import."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger()
# One namespace for every function; account ids go in metadata, never in dimensions (cardinality = cost).
metrics = Metrics(namespace="Switchboard")


class LazyTracer:
    """Powertools' Tracer, built when a traced function first runs: importing the X-Ray SDK costs ~0.9 s."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def real(self) -> Tracer:
        """The Powertools Tracer (created on first use)."""
        with self._lock:
            if self._tracer is None:
                from aws_lambda_powertools import Tracer  # noqa: PLC0415 - the point of this class

                self._tracer = Tracer()
            return self._tracer

    def _lazily(self, decorate: Callable[[Tracer], Callable[[F], F]], func: F) -> F:
        traced: list[F] = []

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not traced:
                traced.append(decorate(self.real)(func))
            return traced[0](*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def capture_lambda_handler(self, func: F) -> F:
        """Trace a Lambda entry point (cold start annotation, response and exception metadata)."""
        decorate: Any = lambda t: t.capture_lambda_handler  # noqa: E731 - Powertools types this decorator loosely
        return self._lazily(decorate, func)

    def capture_method(self, func: F) -> F:
        """Trace one function as a subsegment."""
        return self._lazily(lambda t: t.capture_method, func)


tracer = LazyTracer()
