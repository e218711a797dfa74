"""`switchboard send` and `switchboard messages list|get`."""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from typing import Any

from switchboard_cli import output
from switchboard_cli.account import client_for
from switchboard_cli.client import UsageError

CHANNELS = ("sms", "whatsapp", "voice")
STATUSES = ("queued", "sending", "sent", "delivered", "read", "failed", "undelivered", "expired", "canceled")
PAGE_MAX = 100  # the API's largest page
LIST_COLUMNS = (("id", "ID"), ("to", "TO"), ("channel", "CHANNEL"), ("status", "STATUS"), ("created_at", "CREATED"))
_KEY_FORM = re.compile(r"[\x21-\x7e]{1,255}")  # the API's Idempotency-Key form


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """POST /v1/messages' body from the options (the API checks it again; this names mistakes without a request)."""
    if (args.to is None) == (args.recipient is None):
        raise UsageError("give exactly one of --to +E164 or --recipient rcp_…")
    if args.body is not None and args.template is not None:
        raise UsageError("give --body or --template, not both")
    if args.body is None and args.template is None and not args.media:
        raise UsageError("give --body, --template or --media")
    if (args.language or args.param) and args.template is None:
        raise UsageError("--language and --param go with --template")
    body: dict[str, Any] = {"channel": args.channel}
    body.update({"to": args.to} if args.to is not None else {"recipient_id": args.recipient})
    if args.body is not None:
        body["body"] = sys.stdin.read().rstrip("\n") if args.body == "-" else args.body
    if args.template is not None:
        if not args.language:
            raise UsageError("--template needs --language (e.g. en_US)")
        body["template"] = {"name": args.template, "language": args.language, "parameters": args.param or []}
    optional = {"media": args.media or None, "send_at": args.send_at, "validity_s": args.validity}
    optional["callback_url"] = args.callback_url
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def send(args: argparse.Namespace) -> int:
    """Queue one message; the Idempotency-Key makes a retried command send it once."""
    body = _body(args)
    key = args.idempotency_key or str(uuid.uuid4())
    if not _KEY_FORM.fullmatch(key):
        raise UsageError("--idempotency-key: 1 to 255 printable ASCII characters, no spaces")
    if args.verbose:
        print(f"Idempotency-Key: {key}", file=sys.stderr)
    answer = client_for(args).request("POST", "/v1/messages", body, idempotency_key=key)
    if args.json:
        output.as_json(answer.body)
        return 0
    sent = answer.body
    replay = " (replayed: this key was used before, nothing new was sent)" if answer.replayed else ""
    print(f"{sent.get('status')} {sent.get('id')}: {sent.get('channel')} to {sent.get('to')}{replay}")
    if sent.get("callback_secret"):
        print(f"callback secret (shown once): {sent['callback_secret']}")
    return 0


def list_messages(args: argparse.Namespace) -> int:
    """The newest messages, following cursors until --limit (or, with --all, the end)."""
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    client = client_for(args)
    filters = {"status": args.status, "channel": args.channel, "since": args.since, "until": args.until}
    shown: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        wanted = PAGE_MAX if args.all else min(PAGE_MAX, args.limit - len(shown))
        query = {**filters, "limit": str(wanted), "cursor": cursor}
        page: dict[str, Any] = client.request("GET", "/v1/messages", query={k: v for k, v in query.items() if v}).body
        shown.extend(page.get("data") or [])
        cursor = page.get("next_cursor")
        if not cursor or (not args.all and len(shown) >= args.limit):
            break
    if args.json:
        output.as_json({"data": shown, "next_cursor": cursor})
    elif shown:
        print(output.columns(shown, LIST_COLUMNS))
        if cursor:
            print(f"(more: --limit {len(shown) + PAGE_MAX} or --all)", file=sys.stderr)
    else:
        print("No messages match. Send one with `switchboard send --to +E164 --channel sms --body …`.")
    return 0


def get_message(args: argparse.Namespace) -> int:
    """One message: its fields, then its carrier attempts and status events as one timeline, oldest first."""
    message: dict[str, Any] = client_for(args).request("GET", f"/v1/messages/{_segment(args.message_id)}").body
    if args.json:
        output.as_json(message)
        return 0
    error = message.get("error") or {}
    print(
        output.labelled(
            [
                ("id", message.get("id")),
                ("status", message.get("status")),
                ("channel", message.get("channel")),
                ("from", message.get("from")),
                ("to", message.get("to")),
                ("recipient", message.get("recipient_id")),
                ("carrier", message.get("carrier")),
                ("created", message.get("created_at")),
                ("send at", message.get("send_at")),
                ("valid until", message.get("valid_until")),
                ("body", message.get("body")),
                ("template", (message.get("template") or {}).get("name")),
                ("error", f"{error.get('code')}: {error.get('detail')}" if error else None),
            ]
        )
    )
    timeline = [(a.get("at", ""), "attempt", f"{a.get('carrier')} {a.get('outcome')}") for a in message["attempts"]]
    timeline += [(e.get("at", ""), "status", str(e.get("status"))) for e in message.get("events") or []]
    if timeline:
        print("\ntimeline:")
        print(
            output.columns(
                [{"at": at, "kind": kind, "what": what} for at, kind, what in sorted(timeline, key=lambda t: t[0])],
                (("at", "AT"), ("kind", "KIND"), ("what", "WHAT")),
            )
        )
    return 0


def _segment(identifier: str) -> str:
    """An id as one path segment: letters, digits and `_`/`-` only, so nothing typed can change the route."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", identifier):
        raise UsageError(f"{identifier!r} is not a message id (msg_…)")
    return identifier


def register(commands: Any) -> None:
    """Add `send` and `messages list|get`."""
    send_parser = commands.add_parser(
        "send",
        help="send a message (SMS, WhatsApp, voice)",
        description="Queue a message through POST /v1/messages. The recipient must have opted in on the channel.",
    )
    to = send_parser.add_mutually_exclusive_group()
    to.add_argument("--to", metavar="+E164", help="the phone number, E.164 (+14155550101)")
    to.add_argument("--recipient", metavar="RECIPIENT_ID", help="a recipient's id (rcp_…) instead of --to")
    send_parser.add_argument("--channel", required=True, choices=CHANNELS)
    send_parser.add_argument("--body", help="the text (up to 1600 characters); - reads it from standard input")
    send_parser.add_argument("--template", metavar="NAME", help="an approved WhatsApp template's name")
    send_parser.add_argument("--language", help="the template's language (en_US)")
    send_parser.add_argument("--param", action="append", metavar="TEXT", help="a template parameter (repeatable)")
    send_parser.add_argument("--media", action="append", metavar="FILE_ID", help="an uploaded file (fil_…, repeatable)")
    send_parser.add_argument("--send-at", metavar="RFC3339", help="schedule it (2026-12-24T09:00:00Z)")
    send_parser.add_argument("--validity", type=int, metavar="SECONDS", help="expire it if not sent by then (60+)")
    send_parser.add_argument("--callback-url", metavar="URL", help="a URL told of this message's status changes")
    send_parser.add_argument(
        "--idempotency-key", metavar="KEY", help="reuse a key to retry without sending twice (default: a new UUID)"
    )
    send_parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    send_parser.set_defaults(run=send)

    group = commands.add_parser("messages", help="the message log")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="the newest messages as a table",
        description="The newest messages first: id, to, channel, "
        "status, created. With --json: the API's page format, all pages fetched joined in `data`.",
    )
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--channel", choices=CHANNELS)
    listing.add_argument("--since", metavar="RFC3339", help="created at or after")
    listing.add_argument("--until", metavar="RFC3339", help="created before")
    listing.add_argument("--limit", type=int, default=25, help="how many (default 25; follows cursors past 100)")
    listing.add_argument("--all", action="store_true", help="every message that matches")
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(run=list_messages)
    getting = actions.add_parser("get", help="one message with its attempts and events")
    getting.add_argument("message_id", metavar="MESSAGE_ID")
    getting.add_argument("--json", action="store_true", help="print the API's JSON answer")
    getting.set_defaults(run=get_message)
