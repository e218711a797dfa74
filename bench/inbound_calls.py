"""AWS calls per inbound message, text only and with one picture, through the local stack run in this process.

Every botocore call is counted at `BaseClient._make_api_call` (the hook local/recorder.py uses for the ledger) and
attributed to the function on the stack (`recorder.caller`): carrier_events (verify, store, enqueue), media_worker
(fetch from the sandbox's media host, seal, store, webhook) and callback_worker (the signed webhook). Warm caches
(secrets, data keys) as a busy function has them: one message of each kind first, then MESSAGES of each are
measured; the queue polling of the local workers is the event source's, not a function's, and is not counted.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

MESSAGES = 5
FUNCTIONS = ("carrier_events", "media_worker", "callback_worker")
PASSWORD = "lantern quasar velvet plumbing"  # noqa: S105  # pragma: allowlist secret - the bench user's, local only
PHONE = "+14155550142"

_counts: Counter[tuple[str, str]] = Counter()  # (function, "service Operation") -> calls
_lock = threading.Lock()


def _count_calls() -> None:
    from botocore.client import BaseClient  # noqa: PLC0415

    from local import recorder  # noqa: PLC0415

    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private in botocore's stubs

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        for function in recorder.caller():
            with _lock:
                _counts[(function, f"{self.meta.service_model.service_name} {operation_name}")] += 1
        return original(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010


class Client:
    """JSON over HTTP to the stack on loopback."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http://127.0.0.1 only
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None
        return json.loads(raw) if raw else None


def _listener() -> tuple[str, list[bytes]]:
    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hooks", received


def _set_up(client: Client, hook_url: str) -> str:
    """A verified account with a webhook endpoint for inbound messages; its SMS sender number."""
    email = f"bench-inbound-{os.getpid()}@example.com"
    client.call("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": "Bench"})
    token = next(m["token"] for m in client.call("GET", "/_local/outbox")["data"] if m["to"] == email)
    client.call("POST", "/v1/email-verifications", {"token": token})
    client.token = client.call("POST", "/v1/sessions", {"email": email, "password": PASSWORD})["token"]
    client.call("POST", "/v1/webhook-endpoints", {"url": hook_url, "events": ["message.inbound"]})
    senders = {s["channel"]: s["number"] for s in client.call("GET", "/v1/account")["senders"]}
    return str(senders["sms"])


def _inbound(client: Client, number: str, received: list[bytes], *, media: bool) -> None:
    """One inbound SMS (with a generated PNG when `media`); returns once its webhook arrived and work settled."""
    before = len(received)
    body: dict[str, Any] = {"from": PHONE, "to": number, "body": "bench"}
    if media:
        body["media"] = [{"generate": "image/png"}]
    client.call("POST", "/_local/carriers/sandbox-a/inbound", body)
    deadline = time.monotonic() + 30
    while len(received) == before:
        if time.monotonic() > deadline:
            raise SystemExit("the inbound webhook never came")
        time.sleep(0.02)
    time.sleep(0.3)  # the worker's last update after the webhook, and the callback's own bookkeeping


def _measure(client: Client, number: str, received: list[bytes], *, media: bool) -> Counter[tuple[str, str]]:
    _inbound(client, number, received, media=media)  # warm-up: caches as a busy function has them
    with _lock:
        _counts.clear()
    for _ in range(MESSAGES):
        _inbound(client, number, received, media=media)
    with _lock:
        return Counter({key: value for key, value in _counts.items() if key[0] in FUNCTIONS})


def _table(title: str, counts: Counter[tuple[str, str]]) -> list[str]:
    lines = [f"{title} (calls per message, mean of {MESSAGES})", f"  {'function':<16} {'call':<44} calls"]
    totals: Counter[str] = Counter()
    for (function, call), value in sorted(counts.items()):
        lines.append(f"  {function:<16} {call:<44} {value / MESSAGES:5.1f}")
        totals[function] += value
    for function in FUNCTIONS:
        lines.append(f"  {function:<16} {'(total)':<44} {totals[function] / MESSAGES:5.1f}")
    lines.append(f"  {'all':<16} {'(total)':<44} {sum(totals.values()) / MESSAGES:5.1f}")
    return lines


def main() -> int:
    """Start the stack in this process, measure both kinds of message, print the tables."""
    import logging  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    from local import provision  # noqa: PLC0415

    os.environ.update({**provision.BASE_ENV, "STAGE": provision.STAGE})
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    _count_calls()
    from local.stack import Stack  # noqa: PLC0415

    stack = Stack(port=0)
    # The handlers' metrics and logs go to stdout as in Lambda: kept out of the figures.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # noqa: PTH123
        stack.start()
        try:
            hook_url, received = _listener()
            client = Client(stack.base_url)
            number = _set_up(client, hook_url)
            text = _measure(client, number, received, media=False)
            picture = _measure(client, number, received, media=True)
        finally:
            stack.stop()
    sys.stdout.write("\n".join([*_table("Inbound text", text), "", *_table("Inbound with one picture", picture)]))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
