"""`switchboard-ops accounts …`: an account's metadata (no personal data); the incident lane adds its actions here."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from ops_cli import output
from ops_cli.client import Client

METADATA = (
    ("id", "account"),
    ("status", "status"),
    ("plan", "plan"),
    ("created_at", "created"),
    ("purge_after", "purge after"),
    ("users", "users"),
    ("api_keys", "API keys"),
    ("sessions", "sessions"),
    ("senders", "senders"),
)


def account_path(account_id: str, *rest: str) -> str:
    """`/ops/v1/accounts/<id>[/rest…]`, the id quoted (it is a path segment, whatever was typed)."""
    return "/".join(["/ops/v1/accounts", quote(account_id, safe=""), *rest])


def show(args: argparse.Namespace, client: Client) -> int:
    """Status, plan, dates and counts of one account; the owners see this read in their audit trail."""
    answer: dict[str, Any] = client.request("GET", account_path(args.account_id))
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, METADATA))
    return 0


def register(subparsers: Any) -> None:
    """Add the `accounts` command group."""
    accounts = subparsers.add_parser("accounts", help="read and act on customer accounts")
    actions = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    show_parser = actions.add_parser("show", help="an account's metadata (no personal data; audited)")
    show_parser.add_argument("account_id", metavar="ACCOUNT_ID")
    show_parser.set_defaults(run=show)
