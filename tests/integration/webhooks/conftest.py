"""Webhook tests under moto: the Callbacks queue (and its DLQ) exist as the catalog declares them."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from local import provision
from switchboard import catalog, clock, settings
from switchboard.crypto import envelope
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.keys import account_pk


@dataclass(frozen=True)
class Callbacks:
    """The queue URLs and an SQS client of the test."""

    url: str
    dlq_url: str
    sqs: Any

    def receive(self, wait_s: int = 0) -> list[dict[str, Any]]:
        """Every message visible now (with its receive count)."""
        return list(
            self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, AttributeNames=["All"]
            ).get("Messages", [])
        )


@pytest.fixture
def callbacks(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callbacks]:
    sqs = boto3.client("sqs")
    spec = catalog.queue("Callbacks")
    urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests([spec])}
    url = urls[provision.queue_name(spec)]
    monkeypatch.setenv(spec.env, url)
    settings.reload()
    yield Callbacks(url=url, dlq_url=urls[provision.queue_name(spec, dead_letter=True)], sqs=sqs)
    settings.reload()


def add_endpoint(
    account_id: str,
    endpoint_id: str,
    url: str,
    events: set[str],
    secret: str = "whsec_test",  # noqa: S107 - a test secret
    *,
    cap: int = 10,
) -> webhooks_dal.Endpoint:
    """An endpoint stored as the API stores one (secret sealed with the account's key)."""
    envelope.create_key(account_id)
    pk, sk = account_pk(account_id), webhooks_dal.endpoint_sk(endpoint_id)
    endpoint = webhooks_dal.Endpoint(
        endpoint_id=endpoint_id,
        account_id=account_id,
        url=url,
        events=frozenset(events),
        secret_sealed=envelope.seal(account_id, secret, table="Accounts", item_key=f"{pk}|{sk}", field="secret"),
        created_by="usr_test",
        created_at=int(clock.timestamp()),
    )
    return webhooks_dal.put_endpoint(endpoint, cap=cap)


@dataclass
class Received:
    """One request the listener got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    """A loopback HTTP receiver answering with planned statuses (then 200), recording every request."""

    url: str
    plan: list[tuple[int, dict[str, str]]]
    received: list[Received]


@pytest.fixture
def listener() -> Iterator[Listener]:
    plan: list[tuple[int, dict[str, str]]] = []
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            )
            status, headers = plan.pop(0) if plan else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            body = b'{"ok": true}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Listener(url=f"http://127.0.0.1:{server.server_address[1]}/hook", plan=plan, received=received)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
