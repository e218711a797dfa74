"""Loads each catalog function's handler once and invokes it as Lambda would, with a LambdaContext-like object."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from infra import catalog
from local.provision import ACCOUNT_ID, REGION, STAGE

Handler = Callable[[dict[str, Any], Any], Any]


class Context:
    """What Lambda passes as `context` (the attributes Powertools and our handlers read)."""

    def __init__(self, function_name: str, *, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{STAGE}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def import_handler(function_name: str) -> Handler:
    """`functions.<name>.handler.lambda_handler`, as the deployed function's entry point names it."""
    module = importlib.import_module(f"functions.{function_name}.handler")
    handler: Handler = module.lambda_handler
    return handler


class Invoker:
    """Runs functions by name; each handler module is imported once, on first use, like a Lambda cold start."""

    def __init__(self, load: Callable[[str], Handler] = import_handler) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}

    def handler(self, function_name: str) -> Handler:
        """The entry point of one function (imported on first use)."""
        with self._lock:
            if function_name not in self._handlers:
                self._handlers[function_name] = self._load(function_name)
            return self._handlers[function_name]

    def invoke(
        self,
        function_name: str,
        event: dict[str, Any],
        *,
        memory_mb: int = 512,
        timeout_s: int = 10,
        code: str | None = None,
    ) -> Any:
        """Call the function's handler (from its `code` folder, default its name) with `event`; errors propagate."""
        context = Context(function_name, memory_mb=memory_mb, timeout_s=timeout_s)
        return self.handler(code or function_name)(event, context)

    def run(self, function: catalog.Function, event: dict[str, Any]) -> Any:
        """Invoke a catalog function with its memory size and timeout."""
        return self.invoke(
            function.name, event, memory_mb=function.memory_mb, timeout_s=function.timeout_s, code=function.code
        )
