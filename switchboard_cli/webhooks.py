"""`switchboard webhooks listen`: the account's events forwarded to a local server, signed with a secret of this run,
like `stripe listen` (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

from switchboard_cli import signing
from switchboard_cli.account import client_for
from switchboard_cli.client import Client, Problem, Unreachable, UsageError

EVENT_TYPES = ("message.status", "message.inbound", "recipient.opted_out")
WAIT_S = 20  # the API's longest long-poll (GET /v1/events?wait=): within the client's 30 s read timeout
PAGE = 100
FORWARD_TIMEOUT_S = 10.0
ANSWER_BYTES = 4096  # read at most this much of the local server's answer, as real deliveries do
MAX_BACKOFF_S = 30.0


def checked_forward_url(url: str) -> str:
    """`--forward-to`: an http(s) URL with a host and no credentials or fragment (exit 2 otherwise)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise UsageError(f"--forward-to: {url!r} is not a URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"--forward-to must be an http(s) URL such as http://localhost:4242/webhooks, not {url!r}")
    if parts.username or parts.password or parts.fragment:
        raise UsageError("--forward-to must not carry credentials or a fragment")
    return url


def checked_types(text: str | None) -> list[str] | None:
    """`--events a,b`: known event types (exit 2 for another), or None for all."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    wrong = [n for n in names if n not in EVENT_TYPES]
    if wrong or not names:
        raise UsageError(f"--events: unknown event type(s) {', '.join(map(repr, wrong))}; use {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(names))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer, as for real deliveries (which never follow one)."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


# No proxy from the environment: the local server is reached directly, as its URL says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST the body; the answer's status (raises OSError when nothing answered)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - checked http(s)
    try:
        with _OPENER.open(request, timeout=FORWARD_TIMEOUT_S) as response:
            response.read(ANSWER_BYTES)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@dataclass
class Listener:
    """Long-polls the events API from where it started and forwards each event, signed, to one URL."""

    client: Client
    forward_to: str
    secret: str
    types: list[str] | None = None
    post: Callable[[str, bytes, dict[str, str]], int] = http_post
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    cursor: str | None = None
    backoff_s: float = 0.0

    def say(self, line: str, *, error: bool = False) -> None:
        stamp = datetime.fromtimestamp(self.now()).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp}   {line}", file=self.err if error else self.out, flush=True)

    def _query(self, after: str | None, wait: int, limit: int) -> dict[str, str]:
        query = {"limit": str(limit), "wait": str(wait)}
        if after is not None:
            query["after"] = after
        if self.types:
            query["types"] = ",".join(self.types)
        return query

    def start(self) -> None:
        """Begin at "now": only events created after this, never the log's older ones."""
        page: dict[str, Any] = self.client.request("GET", "/v1/events", query=self._query("now", 0, 1)).body
        self.cursor = page.get("next_cursor")

    def forward(self, event: dict[str, Any]) -> int | None:
        """POST one event, signed as a real delivery; its status, or None when the server could not be reached."""
        event_id = str(event.get("id", ""))
        # The same compact JSON a real delivery's body is (the API's events are that JSON, parsed).
        body = json.dumps(event, separators=(",", ":")).encode()
        self.say(f"--> {event.get('type')} [{event_id}]")
        headers = signing.headers(self.secret, event_id, int(self.now()), body)
        try:
            status = self.post(self.forward_to, body, headers)
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            self.say(f"<-- [ERROR] POST {self.forward_to} [{event_id}]: {reason}", error=True)
            return None
        self.say(f"<-- [{status}] POST {self.forward_to} [{event_id}]")
        return status

    def _wait_after(self, what: str) -> None:
        self.backoff_s = min(max(self.backoff_s * 2, 1.0), MAX_BACKOFF_S)
        self.say(f"{what}; trying again in {self.backoff_s:g} s", error=True)
        self.sleep(self.backoff_s)

    def poll_once(self, wait: int = WAIT_S) -> None:
        """One long-poll and the forwarding of what it brought; API trouble waits (backing off) and returns.

        Raises Problem for a refusal that waiting cannot cure (401, 403, another 4xx).
        """
        try:
            page: dict[str, Any] = self.client.request(
                "GET", "/v1/events", query=self._query(self.cursor, wait, PAGE)
            ).body
        except Unreachable as error:
            self._wait_after(str(error))
            return
        except Problem as refused:
            if refused.code == "invalid_cursor":
                # Our place left the log (kept 3 days) while nothing newer came: start again from now.
                self.say("the event log no longer holds our place; starting again from now", error=True)
                self.start()
                return
            if refused.status == 429 or refused.status >= 500:
                self._wait_after(f"the API answered {refused.status} ({refused.title})")
                return
            raise
        self.backoff_s = 0.0
        for event in page.get("data") or []:
            self.forward(event)
        self.cursor = page.get("next_cursor") or self.cursor


def listen(args: argparse.Namespace) -> int:
    """Print a signing secret for this run, then forward every new event until ^C (exit 0)."""
    forward_to = checked_forward_url(args.forward_to)
    types = checked_types(args.events)
    listener = Listener(client_for(args), forward_to, signing.new_secret(), types=types, post=http_post)
    try:
        listener.start()
        print(
            f"Ready! Your webhook signing secret is {listener.secret} (^C to quit)\n"
            f"Forwarding {', '.join(types) if types else 'every event'} from {args.api_url} to {forward_to}",
            flush=True,
        )
        while True:
            listener.poll_once()
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr, flush=True)
        return 0
    except Problem as refused:
        if refused.status == 401:
            print(
                f"switchboard: {args.api_url} refused the API key (401 {refused.title}): run `switchboard login`",
                file=sys.stderr,
            )
            return 1
        if refused.status == 403:
            print(
                "switchboard: this key may not read events (403): use a key of a role that manages webhook "
                "endpoints (owner, admin, developer)",
                file=sys.stderr,
            )
            return 1
        raise


def register(commands: Any) -> None:
    """Add `webhooks listen`."""
    group = commands.add_parser("webhooks", help="receive the account's events locally")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    entry = actions.add_parser(
        "listen",
        help="forward new events to a local URL, signed with a secret printed at start",
        description="Long-poll the account's events (GET /v1/events) from now on and POST each one, exactly as a "
        "webhook delivery (body and signature headers), to --forward-to, signed with a signing secret made for "
        "this run and printed once. ^C stops it.",
    )
    entry.add_argument(
        "--forward-to", required=True, metavar="URL", help="where to POST each event (http://localhost:4242/hooks)"
    )
    entry.add_argument("--events", metavar="TYPE,TYPE", help=f"only these types ({', '.join(EVENT_TYPES)})")
    # Also after the command, as `stripe listen` takes it; the global option stays the default.
    entry.add_argument("--api-url", default=argparse.SUPPRESS, help="the API's base URL (as the global option)")
    entry.set_defaults(run=listen)
