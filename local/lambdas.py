"""Loads each catalog function's handler once and invokes it as Lambda would: its own environment, one at a time."""

from __future__ import annotations

import contextvars
import functools
import importlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from infra.environment import StageValues, function_environment
from local.provision import ACCOUNT_ID, REGION, STAGE
from switchboard import catalog, settings

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


def run_as_function(handler: Handler, event: Any, context: Any, environment: Mapping[str, str] | None) -> Any:
    """Call `handler` as a fresh invocation: an empty contextvars context (nothing of the caller's request state
    leaks in or out) whose settings are exactly `environment` (plus the process's TUNING knobs); None: no scope."""

    def call() -> Any:
        if environment is None:
            return handler(event, context)
        with settings.scope({**environment, **settings.process_tuning()}):
            return handler(event, context)

    return contextvars.Context().run(call)


class Invoker:
    """Runs functions by name; each handler module is imported once, on first use, like a Lambda cold start.

    Lambda runs one invocation per execution environment at a time; here a handler module is the execution
    environment (its resolver, batch processor and caches are module state), so invocations of one module are
    serialized. Different functions run concurrently, each in its own context with its own environment.
    """

    def __init__(
        self,
        load: Callable[[str], Handler] = import_handler,
        environments: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._environment_locks: dict[str, threading.Lock] = {}
        self._environments = environments

    def use_environments(self, environments: Mapping[str, Mapping[str, str]]) -> None:
        """From now on each function runs with exactly its own environment (function name -> variables); each is
        checked as a cold start checks it (settings.MissingSettings names what a function's entry lacks)."""
        for environment in environments.values():
            settings.load(environment)
        self._environments = environments

    def handler(self, function_name: str) -> Handler:
        """The entry point of one function (imported on first use)."""
        with self._lock:
            if function_name not in self._handlers:
                self._handlers[function_name] = self._load(function_name)
                self._environment_locks[function_name] = threading.Lock()
            return self._handlers[function_name]

    def environment(self, function_name: str) -> Mapping[str, str] | None:
        """The variables a function runs with (None before environments are set: unit tests with fake handlers)."""
        if self._environments is None:
            return None
        if function_name not in self._environments:
            raise LookupError(f"{function_name} is not deployed in this stage: it has no environment")
        return self._environments[function_name]

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
        module = code or function_name
        handler = self.handler(module)
        environment = self.environment(function_name)
        with self._environment_locks[module]:
            context = Context(function_name, memory_mb=memory_mb, timeout_s=timeout_s)
            return run_as_function(handler, event, context, environment)

    def run(self, function: catalog.Function, event: dict[str, Any]) -> Any:
        """Invoke a catalog function with its memory size and timeout."""
        return self.invoke(
            function.name, event, memory_mb=function.memory_mb, timeout_s=function.timeout_s, code=function.code
        )


class _AnyName:
    """Resource names that only stand in: used to learn which variables a function gets, not their values."""

    def table(self, table_id: str) -> str:
        return table_id

    def queue(self, queue_id: str) -> str:
        return queue_id

    def secret(self, secret_id: str) -> str:
        return secret_id

    def data_key(self) -> str:
        return "key"

    def audit_mac_key(self) -> str:
        return "mac-key"

    def anchor_bucket(self) -> str:
        return "anchors"

    def receipt_key(self) -> str:
        return "receipt-key"

    def catalog_bucket(self, bucket_id: str) -> str:
        return bucket_id


def environment_from(spec: catalog.Function, everything: Mapping[str, str]) -> dict[str, str]:
    """The function's own variables cut from an environment that names every resource (the tests' process env).

    The stage is `everything`'s STAGE; a variable `everything` lacks stays unset, so settings defaults apply.
    """
    stage = everything.get("STAGE", "")
    if stage not in settings.STAGES:
        return {"STAGE": stage} if stage else {}  # the function refuses to run (settings.UnknownStage)
    values = StageValues(stage=stage, public_base_url="", security_contact="", security_policy_url="", mail_from="")
    names = function_environment(catalog.in_stage(spec, stage), _AnyName(), values)
    environment = {k: v for k, v in everything.items() if k in names}
    environment["POWERTOOLS_SERVICE_NAME"] = spec.name
    return environment


def function_of(code: str, event: Any) -> catalog.Function:
    """The catalog function an event for the handler folder `code` is meant for (several may share the folder:
    one send worker per channel queue; the event's queue ARN picks one, else the first)."""
    candidates = [f for f in catalog.FUNCTIONS if f.code == code]
    if not candidates:
        raise LookupError(f"no catalog function runs functions/{code}")
    records = event.get("Records") if isinstance(event, dict) else None
    source = str(records[0].get("eventSourceARN", "")) if records and isinstance(records[0], dict) else ""
    return next((f for f in candidates if f.consumes and source.endswith(f"-{f.consumes}")), candidates[0])


def as_deployed(code: str, handler: Handler) -> Handler:
    """`handler` (of functions/<code>) invoked as its deployed function: its own environment, cut from this
    process's (which names every resource), in a fresh context. Inside a function scope already (the local
    stack's Invoker), it is called as it is."""

    @functools.wraps(handler)
    def invoke(event: dict[str, Any], context: Any) -> Any:
        if settings.current_scope() is not None:
            return handler(event, context)
        environment = environment_from(function_of(code, event), os.environ)
        return run_as_function(handler, event, context, environment)

    return invoke
