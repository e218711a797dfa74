"""The local Invoker runs a function as Lambda would: one invocation per execution environment, its own environment
and its own request state (settings scope, log keys) in a fresh context."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from typing import Any

from aws_lambda_powertools import Logger

from local.lambdas import Invoker, environment_from, function_of
from switchboard import catalog, settings
from switchboard.observability import ContextFormatter

HOLD_S = 0.05


class Overlap:
    """Handlers that record how many invocations of each module run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.both = threading.Event()

    def load(self, module: str) -> Any:
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.lock:
                self.running[module] = self.running.get(module, 0) + 1
                self.most[module] = max(self.most.get(module, 0), self.running[module])
                if len([m for m, n in self.running.items() if n]) == 2:
                    self.both.set()
            time.sleep(HOLD_S)
            with self.lock:
                self.running[module] -= 1
            scoped = settings.current_scope()
            return {"stage": scoped.stage if scoped else None, "service": scoped.service if scoped else None}

        return handler


def _in_threads(calls: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(calls)
    threads = [threading.Thread(target=lambda i=i, c=c: results.__setitem__(i, c())) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_one_invocation_per_module_at_a_time_and_modules_run_concurrently() -> None:
    overlap = Overlap()
    environments = {name: {"STAGE": "local", "POWERTOOLS_SERVICE_NAME": name} for name in ("a", "b", "a2")}
    invoker = Invoker(overlap.load, environments)
    calls = [lambda: invoker.invoke("a", {}) for _ in range(4)] + [lambda: invoker.invoke("b", {}) for _ in range(4)]
    # A second function sharing module `a` (as the three send workers share send_worker) shares its environment.
    calls += [lambda: invoker.invoke("a2", {}, code="a") for _ in range(2)]
    results = _in_threads(calls)
    assert overlap.most == {"a": 1, "b": 1}
    assert overlap.both.is_set()  # a and b did run at the same time
    assert [r["service"] for r in results] == ["a"] * 4 + ["b"] * 4 + ["a2"] * 2
    assert {r["stage"] for r in results} == {"local"}
    assert settings.current_scope() is None  # nothing of an invocation leaks into the caller's context


def test_a_function_without_an_environment_is_not_invoked() -> None:
    overlap = Overlap()
    invoker = Invoker(overlap.load, {"a": {"STAGE": "local"}})
    try:
        invoker.invoke("b", {})
    except LookupError as error:
        assert "not deployed in this stage" in str(error)
    else:
        raise AssertionError("a function without an environment ran")
    assert overlap.most == {}


def test_environment_from_keeps_only_the_functions_own_variables() -> None:
    everything = {
        "STAGE": "local",
        "PLATFORM_TABLE": "p",
        "ACCOUNTS_TABLE": "a",
        "PEPPERS_SECRET": "s",
        "DATA_KEY_ID": "k",
        "AWS_REGION": "eu-west-1",
    }
    public = environment_from(catalog.function("public_api"), everything)
    assert public == {"STAGE": "local", "PLATFORM_TABLE": "p", "POWERTOOLS_SERVICE_NAME": "public_api"}
    identity = environment_from(catalog.function("identity_api"), everything)
    assert {"ACCOUNTS_TABLE", "PEPPERS_SECRET", "DATA_KEY_ID"} <= set(identity)
    assert "PLATFORM_TABLE" not in identity and "AWS_REGION" not in identity
    # A deployed stage has no sandbox secret: carrier events run as prod do not get it, even if the process has it.
    worker = catalog.function("carrier_events")
    sandbox = {"SANDBOX_CREDENTIALS_SECRET": "sb"}
    assert "SANDBOX_CREDENTIALS_SECRET" in environment_from(worker, {**everything, **sandbox})
    assert "SANDBOX_CREDENTIALS_SECRET" not in environment_from(worker, {**everything, **sandbox, "STAGE": "prod"})
    assert environment_from(worker, {**everything, "STAGE": "staging"}) == {"STAGE": "staging"}


def test_function_of_picks_the_send_worker_by_its_queue() -> None:
    event = {"Records": [{"eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:switchboard-local-VoiceSend"}]}
    assert function_of("send_worker", event).name == "voice_send_worker"
    assert function_of("public_api", {}).name == "public_api"


def test_log_keys_belong_to_each_invocation_context() -> None:
    stream = io.StringIO()
    formatter = ContextFormatter()
    log = Logger(service="isolation", logger_formatter=formatter, logger_handler=logging.StreamHandler(stream))
    formatter.keep_as_defaults()
    ready = threading.Barrier(2)

    def invocation(request_id: str) -> None:
        log.append_keys(request_id=request_id)
        ready.wait()  # both invocations have appended their key before either logs
        log.info("answer", extra={"expected": request_id})

    invoker = Invoker(lambda module: lambda event, context: invocation(event["id"]))
    _in_threads([lambda: invoker.invoke("one", {"id": "r-1"}), lambda: invoker.invoke("two", {"id": "r-2"})])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(line["request_id"] for line in lines) == ["r-1", "r-2"]
    assert all(line["request_id"] == line["expected"] for line in lines)
    assert all(line["service"] == "isolation" for line in lines)
    log.info("outside")  # the caller's context never saw an invocation's keys
    assert "request_id" not in json.loads(stream.getvalue().splitlines()[-1])
