"""`switchboard-ops access …`: break-glass access (R34): request, decide, revoke, list, and reads under a grant."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from ops_cli import output
from ops_cli.client import Client

REQUESTS = "/ops/v1/access-requests"
REQUEST = (
    ("id", "request"),
    ("account_id", "account"),
    ("status", "status"),
    ("requested_by", "requested by"),
    ("approved_by", "approved by"),
    ("ticket", "ticket"),
    ("reason", "reason"),
    ("hours", "hours"),
    ("requested_at", "requested"),
    ("pending_until", "approve before"),
    ("approved_at", "approved"),
    ("expires_at", "expires"),
    ("ended_by", "ended by"),
    ("ended_at", "ended"),
)
REQUEST_ROWS = (
    ("id", "request"),
    ("account_id", "account"),
    ("status", "status"),
    ("requested_by", "by"),
    ("approved_by", "approver"),
    ("ticket", "ticket"),
    ("hours", "hours"),
    ("expires_at", "expires"),
)
MESSAGE = (
    ("id", "message"),
    ("created_at", "created"),
    ("channel", "channel"),
    ("status", "status"),
    ("from", "from"),
    ("to", "to"),
    ("body", "body"),
    ("template", "template"),
    ("carrier", "carrier"),
    ("recipient_id", "recipient"),
)
MESSAGE_ROWS = (
    ("id", "message"),
    ("created_at", "created"),
    ("channel", "channel"),
    ("status", "status"),
    ("to", "to"),
    ("body", "body"),
)
RECIPIENT = (("id", "recipient"), ("phone", "phone"), ("name", "name"), ("country", "country"), ("consent", "consent"))


def _segment(value: str) -> str:
    return quote(value, safe="")


def _request(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, REQUEST))
    return 0


def request(args: argparse.Namespace, client: Client) -> int:
    """Ask for access to one account; a second operator of the security role must approve it within the hour."""
    body = {"account_id": args.account_id, "reason": args.reason, "ticket": args.ticket, "hours": args.hours}
    return _request(args, client.request("POST", REQUESTS, body))


def _decide(action: str) -> Any:
    def run(args: argparse.Namespace, client: Client) -> int:
        return _request(args, client.request("POST", f"{REQUESTS}/{_segment(args.request_id)}/{action}"))

    return run


def show(args: argparse.Namespace, client: Client) -> int:
    """One request and its grant, status as of now."""
    return _request(args, client.request("GET", f"{REQUESTS}/{_segment(args.request_id)}"))


def _page(args: argparse.Namespace) -> dict[str, str]:
    query = {"limit": str(args.limit)}
    if args.cursor:
        query["cursor"] = args.cursor
    return query


def _with_next(rendered: str, data: dict[str, Any]) -> str:
    cursor = data.get("next_cursor")
    return rendered + (f"\nmore: --cursor {cursor}" if cursor else "")


def list_requests(args: argparse.Namespace, client: Client) -> int:
    """Every request, newest first."""
    answer: dict[str, Any] = client.request("GET", REQUESTS, query=_page(args))
    output.emit(
        answer, as_json=args.json, human=lambda data: _with_next(output.table(data["data"], REQUEST_ROWS), data)
    )
    return 0


def _one_line(text: Any, limit: int = 60) -> Any:
    if not isinstance(text, str):
        return text
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def messages(args: argparse.Namespace, client: Client) -> int:
    """The account's messages (or one, --message) under your grant: every read is audited and e-mailed to the owners."""
    base = f"/ops/v1/accounts/{_segment(args.account_id)}/messages"
    if args.message:
        answer: dict[str, Any] = client.request("GET", f"{base}/{_segment(args.message)}")
        output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, MESSAGE))
        return 0
    query = _page(args)
    for name in ("status", "channel", "since", "until"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    answer = client.request("GET", base, query=query)

    def human(data: dict[str, Any]) -> str:
        rows = [{**m, "body": _one_line(m.get("body"))} for m in data["data"]]
        return _with_next(output.table(rows, MESSAGE_ROWS), data)

    output.emit(answer, as_json=args.json, human=human)
    return 0


def recipient(args: argparse.Namespace, client: Client) -> int:
    """One recipient of the account (number and name) under your grant; audited and e-mailed to the owners."""
    path = f"/ops/v1/accounts/{_segment(args.account_id)}/recipients/{_segment(args.recipient_id)}"
    answer: dict[str, Any] = client.request("GET", path)
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, RECIPIENT))
    return 0


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=25, help="1-100 per page (default 25)")
    parser.add_argument("--cursor", help="next_cursor of the previous page")


def register(subparsers: Any) -> None:
    """Add the `access` command group."""
    access = subparsers.add_parser("access", help="break-glass access to one account's data (two operators, audited)")
    actions = access.add_subparsers(dest="action", required=True, metavar="ACTION")

    asking = actions.add_parser("request", help="ask for access to one account (a second operator approves)")
    asking.add_argument("account_id", metavar="ACCOUNT_ID")
    asking.add_argument("--reason", required=True, help="why, in words the account's owners will read (10-500)")
    asking.add_argument("--ticket", required=True, help="the support or incident ticket")
    asking.add_argument("--hours", type=int, default=1, help="how long the grant lasts once approved: 1-4 (default 1)")
    asking.set_defaults(run=request)

    for action, text in (
        ("approve", "approve another operator's pending request (security role)"),
        ("deny", "deny a pending request (security role), or withdraw your own"),
        ("revoke", "end an active grant now (its holder, or the security role)"),
        ("show", "one request and its grant"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("request_id", metavar="REQUEST_ID")
        command.set_defaults(run=show if action == "show" else _decide(action))

    listing = actions.add_parser("list", help="every request, newest first")
    _paging(listing)
    listing.set_defaults(run=list_requests)

    reading = actions.add_parser("messages", help="an account's messages under your grant (audited, owners e-mailed)")
    reading.add_argument("account_id", metavar="ACCOUNT_ID")
    reading.add_argument("--message", metavar="MESSAGE_ID", help="one message, with its whole log")
    reading.add_argument("--status", help="only messages in this status")
    reading.add_argument("--channel", help="sms, whatsapp or voice")
    reading.add_argument("--since", help="RFC 3339 time")
    reading.add_argument("--until", help="RFC 3339 time")
    _paging(reading)
    reading.set_defaults(run=messages)

    one = actions.add_parser("recipient", help="one recipient of an account under your grant (audited)")
    one.add_argument("account_id", metavar="ACCOUNT_ID")
    one.add_argument("recipient_id", metavar="RECIPIENT_ID")
    one.set_defaults(run=recipient)
