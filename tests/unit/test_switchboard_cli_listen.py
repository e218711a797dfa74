"""`switchboard webhooks listen` without a stack: its signatures equal the platform's, its options are checked, and it
forwards, survives a down server, API errors and ^C, and stops on a refused key."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from switchboard.logic import webhooks as platform
from switchboard.models.webhooks import DeliveryJob
from switchboard_cli import main as cli
from switchboard_cli import signing
from switchboard_cli import webhooks as listen_cli
from switchboard_cli.client import Answer, Client, Problem, Unreachable

BODY = b'{"id":"evt_01kbx9d0f6p3f4m8d0a3f1qz9c","type":"message.status","created_at":"2026-12-03T10:00:00Z","data":{}}'
EVENT_ID = "evt_01kbx9d0f6p3f4m8d0a3f1qz9c"
ROOT = Path(__file__).resolve().parents[2]


def test_a_new_secret_is_256_bits_in_standard_base64() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert signing.new_secret() != secret


@pytest.mark.parametrize("timestamp", [0, 1764150000, 2**31 + 7])
def test_signatures_equal_the_platforms_signer(timestamp: int) -> None:
    secret = signing.new_secret()
    assert signing.signature(secret, timestamp, BODY) == platform.sign(secret, timestamp, BODY)
    assert signing.standard_signature(secret, EVENT_ID, timestamp, BODY) == platform.standard_signature(
        [secret], EVENT_ID, timestamp, BODY
    )


def test_headers_are_a_real_deliverys_and_the_platforms_verifiers_accept_them() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers(secret, EVENT_ID, now, BODY)
    job = DeliveryJob(
        account_id="acct_1", event_id=EVENT_ID, event_type="message.status", sealed_event="x", endpoint_id="whe_1"
    )
    assert headers == platform._headers(job, [secret], now, BODY)
    assert platform.verify_signature(secret, headers["Switchboard-Signature"], BODY, now)
    assert platform.verify_standard(secret, headers, BODY, now)
    assert not platform.verify_signature(signing.new_secret(), headers["Switchboard-Signature"], BODY, now)
    assert not platform.verify_standard(secret, headers, BODY + b" ", now)


def test_the_cli_package_never_imports_the_lambda_layer() -> None:
    code = (
        "import sys, switchboard_cli.main, switchboard_cli.webhooks;"
        "print(any(m == 'switchboard' or m.startswith('switchboard.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://localhost/hooks",
        "localhost:4242/hooks",
        "/hooks",
        "http://",
        "http://user:pw@localhost:4242/hooks",  # pragma: allowlist secret - a made-up credential
        "http://localhost:4242/hooks#frag",
        "http://localhost:99999/hooks",
        "http://localhost:port/hooks",
        "javascript:alert(1)",
    ],
)
def test_forward_to_must_be_an_http_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["webhooks", "listen", "--forward-to", url]) == 2
    assert "--forward-to" in capsys.readouterr().err


@pytest.mark.parametrize("events", ["message.deleted", "message.status,", "", "message.status,bogus"])
def test_events_must_be_known_types(events: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["webhooks", "listen", "--forward-to", "http://localhost:4242/h", "--events", events]) == 2
    assert "--events" in capsys.readouterr().err


def test_forward_to_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["webhooks", "listen"])
    assert stopped.value.code == 2


class ScriptedApi(Client):
    """GET /v1/events answered from a script: each entry a page (dict), an exception to raise, or a callable."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__("http://api.test", "sb_test_key", sleep=lambda _: None)
        self.script = script
        self.queries: list[dict[str, str]] = []

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Answer:
        assert (method, path) == ("GET", "/v1/events")
        self.queries.append(dict(kw.get("query") or {}))
        step = self.script.pop(0) if self.script else KeyboardInterrupt()
        if isinstance(step, BaseException):
            raise step
        return Answer(200, {}, step)


def event(n: int, kind: str = "message.status") -> dict[str, Any]:
    return {"id": f"evt_{n:026d}", "type": kind, "created_at": "2026-12-03T10:00:00Z", "data": {"id": f"msg_{n}"}}


def make(api: ScriptedApi, post: Callable[[str, bytes, dict[str, str]], int]) -> tuple[Any, io.StringIO, list[float]]:
    out, slept = io.StringIO(), []
    listener = listen_cli.Listener(
        api, "http://localhost:4242/hooks", signing.new_secret(), post=post, sleep=slept.append, out=out, err=out
    )
    return listener, out, slept


def test_forwards_each_event_signed_with_the_body_a_delivery_has() -> None:
    got: list[tuple[bytes, dict[str, str]]] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        got.append((body, headers))
        return 200

    api = ScriptedApi(
        [{"data": [], "next_cursor": "evt_start"}, {"data": [event(1), event(2)], "next_cursor": "evt_2"}]
    )
    listener, out, _ = make(api, post)
    listener.start()
    listener.poll_once()
    assert api.queries[0] == {"limit": "1", "wait": "0", "after": "now"}
    assert api.queries[1] == {"limit": "100", "wait": "20", "after": "evt_start"}
    assert listener.cursor == "evt_2"
    assert [json.loads(body) for body, _ in got] == [event(1), event(2)]
    for body, headers in got:
        assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()
        assert platform.verify_signature(listener.secret, headers["Switchboard-Signature"], body, time.time())
        assert platform.verify_standard(listener.secret, headers, body, time.time())
        assert headers["Switchboard-Event-Id"] == json.loads(body)["id"]
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(f"--> message.status [{event(1)['id']}]")
    assert lines[1].endswith(f"<-- [200] POST http://localhost:4242/hooks [{event(1)['id']}]")


def test_types_go_to_the_api() -> None:
    api = ScriptedApi([{"data": [], "next_cursor": None}])
    listener, _, _ = make(api, lambda *_: 200)
    listener.types = ["recipient.opted_out", "message.inbound"]
    listener.poll_once()
    assert api.queries[0]["types"] == "recipient.opted_out,message.inbound"
    assert "after" not in api.queries[0]  # an empty log at start: from its beginning, so nothing is missed


def test_a_server_that_is_down_or_failing_is_reported_and_listening_goes_on() -> None:
    answers: list[Any] = [ConnectionRefusedError(111, "Connection refused"), 500, 200]

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return int(answer)

    api = ScriptedApi(
        [{"data": [event(1), event(2)], "next_cursor": "evt_2"}, {"data": [event(3)], "next_cursor": "evt_3"}]
    )
    listener, out, _ = make(api, post)
    listener.poll_once()
    listener.poll_once()
    text = out.getvalue()
    assert "<-- [ERROR] POST http://localhost:4242/hooks" in text and "Connection refused" in text
    assert "<-- [500] POST" in text
    assert "<-- [200] POST" in text
    assert listener.cursor == "evt_3"


def test_api_trouble_backs_off_and_keeps_the_cursor() -> None:
    api = ScriptedApi(
        [
            Unreachable("cannot reach http://api.test: refused"),
            Problem(500, {"title": "Internal error"}),
            Problem(503, {"title": "Unavailable"}),
            {"data": [event(1)], "next_cursor": "evt_1"},
            Unreachable("cannot reach http://api.test: refused"),
        ]
    )
    listener, out, slept = make(api, lambda *_: 200)
    listener.cursor = "evt_0"
    for _ in range(5):
        listener.poll_once()
    assert slept == [1.0, 2.0, 4.0, 1.0]  # doubling, and from the start again after an answer
    assert [q["after"] for q in api.queries] == ["evt_0", "evt_0", "evt_0", "evt_0", "evt_1"]
    assert "trying again in 4 s" in out.getvalue()


def test_a_lost_place_starts_again_from_now() -> None:
    api = ScriptedApi([Problem(410, {"title": "Gone", "code": "invalid_cursor"}), {"data": [], "next_cursor": "evt_9"}])
    listener, out, _ = make(api, lambda *_: 200)
    listener.cursor = "evt_gone"
    listener.poll_once()
    assert api.queries[1]["after"] == "now"
    assert listener.cursor == "evt_9"
    assert "starting again from now" in out.getvalue()


def run_listen(
    monkeypatch: pytest.MonkeyPatch, script: list[Any], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    api = ScriptedApi(script)
    monkeypatch.setattr(listen_cli, "client_for", lambda args: api)
    monkeypatch.setattr(listen_cli, "http_post", lambda *_: 200)
    code = cli.main(["webhooks", "listen", "--forward-to", "http://localhost:4242/hooks", "--api-url", "http://x.test"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ctrl_c_stops_with_exit_0_after_printing_the_secret_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script: list[Any] = [{"data": [], "next_cursor": None}, {"data": [event(1)], "next_cursor": "evt_1"}]
    code, out, err = run_listen(monkeypatch, script, capsys)
    assert code == 0
    [ready] = [line for line in out.splitlines() if line.startswith("Ready!")]
    secret = ready.split("secret is ", 1)[1].split(" ", 1)[0]
    assert secret.startswith("whsec_") and out.count(secret) == 1
    assert "(^C to quit)" in ready
    assert "from http://x.test to http://localhost:4242/hooks" in out
    assert "Stopped." in err


@pytest.mark.parametrize(("status", "words"), [(401, "switchboard login"), (403, "owner, admin, developer")])
def test_a_refused_key_stops_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int, words: str
) -> None:
    code, out, err = run_listen(monkeypatch, [Problem(status, {"title": "Refused"})], capsys)
    assert code == 1
    assert words in err
    assert "Ready!" not in out
    code, out, err = run_listen(
        monkeypatch, [{"data": [], "next_cursor": None}, Problem(status, {"title": "x"})], capsys
    )
    assert code == 1
    assert words in err
