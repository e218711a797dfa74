"""The synthetic canary's script (infra/canary/python/health_canary.py) against a loopback stand-in for the API."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "canary" / "python" / "health_canary.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("health_canary", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


canary = _load()


class Api:
    """What the stand-in answers, and what it was asked."""

    def __init__(self) -> None:
        self.health = 200
        self.send: tuple[int, dict[str, Any]] = (202, {"id": "msg_1", "status": "queued"})
        self.requests: list[tuple[str, str, dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path, dict(self.headers), {}))
            self._answer(state.health, {"status": "ok"} if state.health == 200 else {"code": "down"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(("POST", self.path, dict(self.headers), body))
            self._answer(*state.send)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


CREDENTIALS = {"api_key": "sb_live_canary", "to": "+447700900123"}


@pytest.mark.enable_socket
def test_health_only_where_no_send_is_configured(api: tuple[Api, str]) -> None:
    state, url = api
    assert canary.run({"BASE_URL": url + "/"}, read_secret=pytest.fail) == "health ok"
    assert [(m, p) for m, p, _, _ in state.requests] == [("GET", "/v1/health")]


@pytest.mark.enable_socket
def test_a_failing_health_check_fails_the_run(api: tuple[Api, str]) -> None:
    state, url = api
    state.health = 503
    with pytest.raises(canary.CanaryFailed, match="503"):
        canary.run({"BASE_URL": url})


@pytest.mark.enable_socket
def test_the_send_step_uses_the_secrets_key_and_number_and_needs_a_queued_202(api: tuple[Api, str]) -> None:
    state, url = api
    env = {"BASE_URL": url, "SEND_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:canary"}
    asked: list[str] = []
    result = canary.run(env, read_secret=lambda arn: asked.append(arn) or CREDENTIALS)
    assert result == "health ok, send msg_1 queued"
    assert asked == [env["SEND_SECRET_ARN"]]
    method, path, headers, body = state.requests[1]
    assert (method, path) == ("POST", "/v1/messages")
    assert headers["Authorization"] == "Bearer sb_live_canary"
    assert headers["Idempotency-Key"]
    assert body["to"] == CREDENTIALS["to"]
    assert body["channel"] == "sms"
    state.send = (422, {"code": "consent_required"})
    with pytest.raises(canary.CanaryFailed, match="consent_required"):
        canary.run(env, read_secret=lambda _: CREDENTIALS)


@pytest.mark.enable_socket
def test_an_unset_secret_fails_the_run_naming_the_runbook(api: tuple[Api, str]) -> None:
    _, url = api
    with pytest.raises(canary.CanaryFailed, match="alarm-canary"):
        canary.run({"BASE_URL": url, "SEND_SECRET_ARN": "arn"}, read_secret=lambda _: {})
