"""The local stack in this process (moto server, every catalog function, the local gateway), driven without HTTP."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from local.gateway import Gateway, Request, Response
from local.stack import Stack
from switchboard import clock, settings
from switchboard.crypto import secret_store
from switchboard.dal import clients
from switchboard.dal.base import BaseItem

PASSWORD = "lantern quasar velvet plumbing"
OWNER = "owner@example.com"
EVENTS = ["message.status"]
ATTACKER_IP = "198.51.100.66"  # hostile requests come from here; logins from loopback, so no lockout meets them


@dataclass
class Client:
    """An account owner's session on an in-process stack, renewed whenever a request ended it."""

    gateway: Gateway
    token: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    made: int = 0

    def send(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        ip: str = ATTACKER_IP,
    ) -> Response:
        """One request through the gateway, exactly as the HTTP server would hand it over."""
        return self.gateway.dispatch(Request(method, target, headers or [], body, source_ip=ip))

    def json(self, method: str, target: str, payload: Any = None, *, auth: bool = True) -> tuple[int, Any]:
        """A well-formed JSON request from the owner (loopback)."""
        headers = [("Content-Type", "application/json")] if payload is not None else []
        if auth:
            headers.append(("Authorization", f"Bearer {self.token}"))
        body = json.dumps(payload).encode() if payload is not None else b""
        answer = self.send(method, target, body=body, headers=headers, ip="127.0.0.1")
        if answer.status == 429 and answer.header("Retry-After"):
            # Setup is not what the tests attack: the owner waits the limit out (on the platform clock), once.
            clock.advance(float(answer.header("Retry-After") or 1))
            answer = self.send(method, target, body=body, headers=headers, ip="127.0.0.1")
        return answer.status, json.loads(answer.body) if answer.body else None

    def login(self) -> None:
        """A fresh session (recent authentication included)."""
        status, body = self.json("POST", "/v1/sessions", {"email": OWNER, "password": PASSWORD}, auth=False)
        assert status == 201, body
        self.token = body["token"]

    def fresh_resources(self) -> None:
        """One live resource of each kind a route's path names (recipient, list, endpoint, key): made again when
        a hostile but well-formed DELETE removed it."""
        made = {
            "recipient_id": ("/v1/recipients", lambda n: {"phone": f"+1415555{n:04d}"}),
            "list_id": ("/v1/lists", lambda n: {"name": f"Everyone {n}"}),
            "endpoint_id": ("/v1/webhook-endpoints", lambda n: {"url": f"http://127.0.0.1:9/{n}", "events": EVENTS}),
            "key_id": ("/v1/api-keys", lambda n: {"name": f"ci {n}", "role": "developer"}),
        }
        for name, (collection, payload) in made.items():
            known = self.ids.get(name)
            if known and collection == "/v1/recipients" and self.json("GET", f"{collection}/{known}")[0] == 200:
                continue
            if known and collection in ("/v1/lists", "/v1/api-keys", "/v1/webhook-endpoints"):
                # No GET of one item: a list's members, the key and endpoint collections tell whether it lives.
                probe = f"{collection}/{known}/recipients" if collection == "/v1/lists" else collection
                status, body = self.json("GET", probe)
                if status == 200 and (collection == "/v1/lists" or any(i["id"] == known for i in body["data"])):
                    continue
            self.made += 1
            status, created = self.json("POST", collection, payload(self.made))
            assert status == 201, created
            self.ids[name] = created["id"]
        status, me = self.json("GET", "/v1/me")
        assert status == 200, me
        self.ids.update(user_id=me["user_id"], session_id="ses_x", message_id="msg_x", carrier="sandbox-a")

    def ensure_session(self) -> None:
        """Log in again when a request (DELETE /v1/sessions, a password change, ...) ended the session."""
        if self.json("GET", "/v1/me")[0] != 200:
            self.login()


def _forget_connections() -> None:
    # PynamoDB keeps one connection per model class, bound to the endpoint of its first use: a stack started
    # after another one's moto stopped must not reach for the old port.
    pending: list[type] = [BaseItem]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if "_connection" in vars(model):
            model._connection = None  # type: ignore[attr-defined]


def start() -> tuple[Stack, Client]:
    """Start a stack, sign up and verify the owner, log in and create one of each resource a route names."""
    stack = Stack(port=0)
    stack.start()
    _forget_connections()
    server = stack._server  # the gateway of this very stack, called without a socket
    assert server is not None
    client = Client(server.gateway)
    signup = {"email": OWNER, "password": PASSWORD, "account_name": "Acme"}
    status, body = client.json("POST", "/v1/signup", signup, auth=False)
    assert status == 202, body
    mail = _mail_to(client, OWNER)
    assert client.json("POST", "/v1/email-verifications", {"token": mail["token"]}, auth=False)[0] == 200
    client.login()
    client.fresh_resources()
    return stack, client


def _mail_to(client: Client, address: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The first mail to `address` in the local outbox: mail_worker sends it from its queue a moment after the
    request that asked for it (later on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [m for m in client.json("GET", "/_local/outbox", auth=False)[1]["data"] if m["to"] == address]
        if found or time.monotonic() > deadline:
            assert found, f"no mail to {address} within {timeout_s}s"
            return dict(found[0])
        time.sleep(0.1)


def _reset_moto(stack: Stack) -> None:
    # moto's backends are this process's globals: the next stack (another module's) would find these tables.
    server = stack._moto  # the stack's own moto server
    if server is None:
        return
    host, port = server.get_host_and_port()
    request = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def running() -> Iterator[Client]:
    """A started stack for a module's tests; afterwards this process's environment is as it was."""
    saved = dict(os.environ)
    stack, client = start()
    try:
        yield client
    finally:
        _reset_moto(stack)
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        settings.reload()
        clients.reset()
        secret_store.forget()
        _forget_connections()
