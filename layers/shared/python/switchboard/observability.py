"""Logger, tracer and metrics shared by every function; the X-Ray SDK loads on first invocation, not at import."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])


class ContextFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter whose appended keys belong to the current contextvars context: one process that
    runs many functions at once (the local stack) keeps each invocation's keys (request_id, ...) to itself."""

    def __init__(self, **kwargs: Any) -> None:
        self._format: ContextVar[dict[str, Any] | None] = ContextVar(f"log_format_{id(self)}", default=None)
        self._template: dict[str, Any] = {}
        super().__init__(**kwargs)
        self._template = dict(self.log_format)

    @property
    def log_format(self) -> dict[str, Any]:
        """The keys of this context's log lines (a fresh context starts from the configured ones)."""
        current = self._format.get()
        if current is None:
            current = dict(self._template)
            self._format.set(current)
        return current

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        self._format.set(value)

    def keep_as_defaults(self) -> None:
        """Make the keys of this context (Logger adds service and the like after building its formatter) where every
        fresh context starts."""
        self._template = dict(self.log_format)

    def append_keys(self, **additional_keys: Any) -> None:
        """Add keys (copy on write: a copied context, e.g. a worker thread, never changes its parent's keys)."""
        self.log_format = {**self.log_format, **additional_keys}

    def remove_keys(self, keys: Iterable[str]) -> None:
        """Drop keys (copy on write)."""
        dropped = set(keys)
        self.log_format = {k: v for k, v in self.log_format.items() if k not in dropped}


_formatter = ContextFormatter()
logger = Logger(logger_formatter=_formatter)
_formatter.keep_as_defaults()
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
