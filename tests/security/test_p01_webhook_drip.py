"""P01: a tenant's slow webhook receiver holds no delivery past its deadline and delays no other tenant.

Hostile receivers on loopback drip the status line, the headers or the body one byte at a time (each byte well
inside what a per-read timeout allows), never answer, never accept, or answer without end. Every outbound call has
one total deadline and a bounded answer; the callback worker posts each endpoint (or callback origin) in its own
thread, stops an endpoint at its first timeout in a batch and opens its circuit (at once on a timeout). The bound
stated in docs/webhooks.md: another account's delivery is never behind a slow tenant's HTTP (it arrives before one
deadline has passed since the slow tenant's first attempt began), and a batch lasts at most two deadlines.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from functions.callback_worker import handler as callback_worker
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from local.workers import sqs_event
from switchboard import clock, settings, webhook_client
from switchboard.carriers import http_client
from switchboard.carriers.base import CarrierTimeout, CarrierUnavailable
from switchboard.dal import circuits
from switchboard.dal import webhooks as webhooks_dal
from switchboard.logic import webhooks
from tests.integration.conftest import Context
from tests.integration.messaging.conftest import Account, Queues, make_account, opted_in
from tests.integration.messaging.test_messages import PHONE, work
from tests.integration.webhooks.conftest import Callbacks, add_endpoint, callbacks
from tests.loopback import serving

__all__ = ["callbacks"]  # a fixture these tests use

DEADLINE_S = 0.6  # WEBHOOK_TIMEOUT_S in these tests (5 s deployed)
TICK_S = 0.2  # a hostile byte every 0.2 s: each read waits far less than the deadline
SLACK_S = 1.0  # a loaded CI machine's scheduling; the hostile servers would hold a call for 30 s
HOLD_S = 30.0
STATUS = {"message_id": "msg_1", "status": "delivered", "to": "+14155550123"}

# What each hostile receiver does once it has read the request.
DRIPS = ["status_line", "headers", "body", "silent", "silent_tls", "unaccepted"]
FLOODS = ["huge_body", "endless_body"]


class Hostile:
    """A loopback receiver that misbehaves as `kind` says; counts connections; stops when the test ends."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stop = threading.Event()
        self.connections: list[float] = []  # monotonic time each connection was accepted
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=0 if kind == "unaccepted" else 16)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        scheme = "https" if kind == "silent_tls" else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"
        if kind == "unaccepted":
            # A full accept queue: the kernel drops further SYNs, so connect itself hangs.
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", self.port))
                self.fillers.append(filler)
        else:
            threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for filler in self.fillers:
            filler.close()
        self.listener.close()

    def _accept(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(time.monotonic())
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self.stop.wait(TICK_S):
                return
            conn.sendall(bytes([byte]))

    def _serve(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with conn, contextlib.suppress(OSError):
            conn.settimeout(2)
            if self.kind != "silent_tls":
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096) or b"\r\n\r\n"
            endless = b"X" * int(HOLD_S / TICK_S)
            if self.kind == "status_line":
                self._drip(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + endless)
            elif self.kind == "headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                self._drip(conn, b"X-Drip: " + endless)
            elif self.kind == "body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                self._drip(conn, endless)
            elif self.kind == "error_500":
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            elif self.kind in {"silent", "silent_tls"}:
                self.stop.wait(HOLD_S)
            elif self.kind == "huge_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500000000\r\n\r\n")
                while not self.stop.is_set() and time.monotonic() - started < HOLD_S:
                    conn.sendall(b"X" * 65536)
            elif self.kind == "endless_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                while not self.stop.is_set() and time.monotonic() - started < HOLD_S:
                    conn.sendall(b"400\r\n" + b"X" * 1024 + b"\r\n")


@pytest.fixture
def deadline(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", str(DEADLINE_S))
    settings.reload()
    yield DEADLINE_S
    settings.reload()


class Arrivals:
    """A well-behaved receiver: when each event arrived (monotonic), by event type and id."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrivals.at[json.loads(body)["id"]] = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@contextlib.contextmanager
def good_receiver() -> Iterator[tuple[str, Arrivals]]:
    arrivals = Arrivals()
    with serving(arrivals.handler()) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals


def run_worker(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], float]:
    """One batch through the callback worker as the event source hands it over; its result and duration."""
    started = time.monotonic()
    result: dict[str, Any] = callback_worker.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()
    )
    return result, time.monotonic() - started


def failed_ids(result: dict[str, Any]) -> set[str]:
    return {f["itemIdentifier"] for f in result["batchItemFailures"]}


def job_of(message: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(message["Body"])
    return job


# --- One call: the total deadline and the size bound -----------------------------------------------------------


@pytest.mark.parametrize("kind", DRIPS)
def test_a_dripping_receiver_cannot_hold_a_delivery_past_its_deadline(kind: str) -> None:
    with Hostile(kind) as hostile:
        started = time.monotonic()
        answer = webhook_client.post(hostile.url, b"{}", {}, local=True, timeout_s=DEADLINE_S)
        elapsed = time.monotonic() - started
    assert (answer.status, answer.error, answer.delivered) == (None, "timeout", False)
    assert DEADLINE_S * 0.9 <= elapsed < DEADLINE_S + SLACK_S


def test_a_slow_name_server_cannot_hold_a_delivery_or_an_api_request(monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()

    def slow_resolve(host: str, port: int) -> list[str]:
        released.wait(HOLD_S)  # an attacker's authoritative server answering after the resolver's patience
        return ["93.184.215.14"]

    monkeypatch.setattr(webhook_client, "resolve", slow_resolve)
    try:
        started = time.monotonic()
        answer = webhook_client.post("https://hooks.example.com/h", b"{}", {}, local=False, timeout_s=DEADLINE_S)
        assert (answer.status, answer.error) == (None, "timeout")
        assert time.monotonic() - started < DEADLINE_S + SLACK_S
        monkeypatch.setenv("STAGE", "dev")  # deployed rules: https and public addresses only
        monkeypatch.setenv("WEBHOOK_TIMEOUT_S", str(DEADLINE_S))
        settings.reload()
        started = time.monotonic()
        # Accepted like a name that does not resolve yet: every delivery resolves and checks it again.
        assert webhooks.check_url("https://hooks.example.com/h") == "https://hooks.example.com/h"
        assert time.monotonic() - started < DEADLINE_S + SLACK_S
    finally:
        released.set()
        settings.reload()


@pytest.mark.parametrize("kind", FLOODS)
def test_a_flooding_receiver_is_cut_off_after_the_size_bound(kind: str) -> None:
    with Hostile(kind) as hostile:
        started = time.monotonic()
        answer = webhook_client.post(hostile.url, b"{}", {}, local=True, timeout_s=DEADLINE_S)
        elapsed = time.monotonic() - started
    # The status is the answer; only MAX_RESPONSE_BYTES of the body are read, then the connection is dropped.
    assert (answer.status, answer.delivered) == (200, True)
    assert elapsed < DEADLINE_S


@pytest.mark.parametrize("kind", DRIPS + FLOODS)
def test_a_hostile_carrier_cannot_hold_a_send_past_its_total_timeout(kind: str) -> None:
    client = http_client.HttpClient(connect_timeout_s=DEADLINE_S, total_timeout_s=DEADLINE_S)
    with Hostile(kind) as hostile:
        started = time.monotonic()
        with pytest.raises((CarrierTimeout, CarrierUnavailable)) as raised:
            client.post("hostile", hostile.url.replace("https://", "http://"), headers={}, body=b"{}")
        elapsed = time.monotonic() - started
    expected = CarrierUnavailable if kind in FLOODS else CarrierTimeout  # too large is refused, not timed out
    assert type(raised.value) is expected
    assert elapsed < DEADLINE_S + SLACK_S


# --- The worker: another tenant is not delayed -----------------------------------------------------------------


def _warm(callbacks: Callbacks, account_id: str) -> None:
    """One delivery first: the worker's cold start (imports, moto's first KMS and DynamoDB calls) is not timed."""
    _publish(account_id, 1)
    result, _ = run_worker(callbacks.receive())
    assert failed_ids(result) == set()


def _publish(account_id: str, count: int) -> None:
    for n in range(count):
        assert webhooks.publish(account_id, "message.status", {**STATUS, "message_id": f"msg_{n}"}) == 1


@pytest.mark.parametrize("kind", DRIPS + FLOODS)
def test_a_dripping_tenant_does_not_delay_another_tenants_deliveries(
    kind: str, callbacks: Callbacks, deadline: float
) -> None:
    with Hostile(kind) as hostile, good_receiver() as (good_url, arrivals):
        add_endpoint("acct_slow", "whe_slow", hostile.url, {"message.status"})
        add_endpoint("acct_other", "whe_other", good_url, {"message.status"})
        _warm(callbacks, "acct_other")
        arrivals.at.clear()
        _publish("acct_slow", 6)
        _publish("acct_other", 3)
        messages = callbacks.receive()
        assert len(messages) == 9
        result, _ = run_worker(messages)
        first_slow_attempt = hostile.connections[0] if hostile.connections else None

    other = {m["MessageId"] for m in messages if job_of(m)["account_id"] == "acct_other"}
    slow = {m["MessageId"] for m in messages} - other
    assert len(arrivals.at) == 3  # every event of the other account arrived in this batch
    assert not other & failed_ids(result)
    if first_slow_attempt is not None:
        # Never behind the slow tenant's HTTP: all arrived before its first attempt could have timed out.
        assert max(arrivals.at.values()) - first_slow_attempt < deadline
    log = webhooks_dal.list_deliveries("acct_slow", "whe_slow", limit=10)[0]
    # The HTTP time the slow tenant cost this batch: each attempt within its deadline (the batch's wall time is
    # mostly moto's bookkeeping on a shared machine, so the log's durations are what is asserted).
    assert all(e.duration_ms < (deadline + SLACK_S) * 1000 for e in log)
    if kind in DRIPS:
        assert failed_ids(result) == slow  # not delivered: each stays queued with its backoff, nothing is lost
        # One attempt reached the slow receiver; after its failure the rest were deferred without HTTP.
        assert len(hostile.connections) == (0 if kind == "unaccepted" else 1)
        assert sorted(e.outcome for e in log) == ["deferred"] * 5 + ["failed"]
        assert [e.error for e in log if e.outcome == "failed"] == ["timeout"]
    else:
        assert failed_ids(result) == set()  # answered 200: delivered; the flood was cut off after 4 KiB


@pytest.mark.parametrize(
    ("kind", "batches_to_open", "tried_per_batch"),
    [("headers", 1, 1), ("error_500", webhooks.FAILURES_TO_OPEN, 2)],
)
def test_failures_open_the_endpoints_circuit_and_then_cost_no_http(
    kind: str, batches_to_open: int, tried_per_batch: int, callbacks: Callbacks, deadline: float
) -> None:
    # A timeout (a spent deadline) opens the circuit at once and defers the rest of its batch; fast failures, which
    # cost nobody anything, open it after FAILURES_TO_OPEN batches.
    with Hostile(kind) as hostile, good_receiver() as (good_url, arrivals):
        add_endpoint("acct_slow", "whe_slow", hostile.url, {"message.status"})
        add_endpoint("acct_other", "whe_other", good_url, {"message.status"})
        for _ in range(batches_to_open):
            _publish("acct_slow", 2)
            result, _ = run_worker(callbacks.receive())
            assert len(result["batchItemFailures"]) == 2
        assert len(hostile.connections) == batches_to_open * tried_per_batch

        _publish("acct_slow", 4)
        _publish("acct_other", 2)
        fresh = callbacks.receive()  # the deferred ones stay hidden for their backoff (30 s and more)
        assert len(fresh) == 6
        result, _ = run_worker(fresh)

    assert len(hostile.connections) == batches_to_open * tried_per_batch  # the open circuit: no HTTP at all
    slow = {m["MessageId"] for m in fresh if job_of(m)["account_id"] == "acct_slow"}
    assert failed_ids(result) == slow  # deferred, still queued with their backoff
    assert len(arrivals.at) == 2
    log = webhooks_dal.list_deliveries("acct_slow", "whe_slow", limit=100)[0]
    assert sum(1 for e in log if e.error == "deferred: circuit open") == 4
    assert all(e.next_retry_at is not None for e in log)  # every one has its next attempt scheduled


def test_an_open_circuit_is_probed_after_its_cool_down_and_closes_on_success(
    callbacks: Callbacks, deadline: float
) -> None:
    with good_receiver() as (good_url, arrivals):
        add_endpoint("acct_a", "whe_a", good_url, {"message.status"})
        key = "webhook:acct_a:whe_a"
        circuits.trip(key, until=clock.timestamp() + webhooks.COOLDOWN_S)
        _publish("acct_a", 1)
        result, _ = run_worker(callbacks.receive())
        assert len(result["batchItemFailures"]) == 1 and arrivals.at == {}  # open: deferred

        clock.advance(webhooks.COOLDOWN_S + 1)
        _publish("acct_a", 2)
        result, _ = run_worker(callbacks.receive())
    assert result["batchItemFailures"] == [] and len(arrivals.at) == 2  # probed, delivered, closed
    assert circuits.get(key).open_until is None


# --- The same through a message's callback_url, and who may set one --------------------------------------------


def test_a_dripping_callback_url_does_not_delay_another_tenant(
    account: Account, queues: Queues, deadline: float
) -> None:
    other = make_account()
    rid = opted_in(account, recipients_api, PHONE)
    with Hostile("body") as hostile, good_receiver() as (good_url, arrivals):
        for n in range(3):
            sent = account.call(
                messages_api,
                "POST",
                "/v1/messages",
                {"channel": "sms", "body": f"Hello {n}", "recipient_id": rid, "callback_url": hostile.url},
            )
            assert sent.status == 202, sent.body
        work(queues)
        add_endpoint(other.account_id, "whe_other", good_url, {"message.status"})
        _publish(other.account_id, 3)
        messages = queues.drain("Callbacks")
        callback_jobs = [m for m in messages if job_of(m).get("message_id")]
        assert len(callback_jobs) >= 3
        result, _ = run_worker(messages)
        first = hostile.connections[0]

    assert len(arrivals.at) == 3
    assert max(arrivals.at.values()) - first < deadline
    assert len(hostile.connections) == 1  # the three messages' callbacks share their account's origin circuit
    assert failed_ids(result) == {m["MessageId"] for m in callback_jobs}


@pytest.mark.parametrize(
    ("role", "plain", "with_callback"),
    [
        ("agent", 202, "callback_url_forbidden"),  # may send, but not aim the platform's HTTP client
        ("viewer", 403, "forbidden"),  # may not send at all
        ("developer", 202, None),
        ("admin", 202, None),
        ("owner", 202, None),
    ],
)
def test_only_roles_that_manage_webhook_endpoints_may_set_a_callback_url(
    account: Account, queues: Queues, role: str, plain: int, with_callback: str | None
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    request = {"channel": "sms", "body": "Hello", "recipient_id": rid, "callback_url": "http://127.0.0.1:9/hook"}
    answer = account.call(messages_api, "POST", "/v1/messages", request, role=role)
    if with_callback is None:
        assert answer.status == 202, answer.body
        return
    assert (answer.status, answer.body["code"]) == (403, with_callback)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert queues.drain("SmsSend") == []  # nothing queued (and nothing charged: the check comes first)
    assert account.call(messages_api, "GET", "/v1/messages").body["data"] == []
    del request["callback_url"]
    assert account.call(messages_api, "POST", "/v1/messages", request, role=role).status == plain
