"""`switchboard-ops accounts …`: an account's metadata (no personal data) and the incident actions on it (R68):
`accounts suspend|reinstate`, `sessions end`, `keys revoke-all`, `users force-reset`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
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


STATUS = (("account_id", "account"), ("status", "status"), ("changed", "changed"), ("sessions_ended", "sessions ended"))
SESSIONS = (("account_id", "account"), ("user_id", "user"), ("users", "users"), ("sessions_ended", "sessions ended"))
KEYS = (("account_id", "account"), ("keys_revoked", "keys revoked"), ("key_ids", "key ids"))
RESET = (
    ("account_id", "account"),
    ("user_id", "user"),
    ("changed", "reset newly required"),
    ("sessions_ended", "sessions ended"),
    ("link_sent", "reset link sent"),
)


def _why(args: argparse.Namespace) -> dict[str, str] | None:
    """The optional `--reason` as the request body (recorded in the account's audit trail)."""
    return {"reason": args.reason} if args.reason else None


def _act(args: argparse.Namespace, client: Client, path: str, body: Any, shown: Sequence[tuple[str, str]]) -> int:
    answer: dict[str, Any] = client.request("POST", path, body)
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, shown))
    return 0


def suspend(args: argparse.Namespace, client: Client) -> int:
    """Suspend: sessions end, keys and logins are refused, sends and webhooks are held (the owners are told why)."""
    return _act(args, client, account_path(args.account_id, "suspend"), {"reason": args.reason}, STATUS)


def reinstate(args: argparse.Namespace, client: Client) -> int:
    """Reinstate a suspended account: held sends and webhooks go out once."""
    return _act(args, client, account_path(args.account_id, "reinstate"), _why(args), STATUS)


def end_sessions(args: argparse.Namespace, client: Client) -> int:
    """End every session of an account, or of one of its users."""
    tail = ("users", quote(args.user, safe=""), "sessions", "end") if args.user else ("sessions", "end")
    return _act(args, client, account_path(args.account, *tail), _why(args), SESSIONS)


def revoke_keys(args: argparse.Namespace, client: Client) -> int:
    """Revoke every live API key of an account."""
    return _act(args, client, account_path(args.account_id, "api-keys", "revoke"), _why(args), KEYS)


def force_reset(args: argparse.Namespace, client: Client) -> int:
    """Force a user's password reset: their sessions end and the reset link is e-mailed."""
    path = account_path(args.account, "users", quote(args.user_id, safe=""), "force-password-reset")
    return _act(args, client, path, _why(args), RESET)


def register(subparsers: Any) -> None:
    """Add the `accounts` command group."""
    accounts = subparsers.add_parser("accounts", help="read and act on customer accounts")
    actions = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    show_parser = actions.add_parser("show", help="an account's metadata (no personal data; audited)")
    show_parser.add_argument("account_id", metavar="ACCOUNT_ID")
    show_parser.set_defaults(run=show)
    _register_incident(subparsers, actions)


def _command(group: Any, name: str, run: Any, help_: str, *, reason_required: bool = False) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_)
    shown = "the owners' e-mail and audit trail" if reason_required else "the account's audit trail"
    parser.add_argument("--reason", required=reason_required, help=f"why, for the customer's eyes: shown in {shown}")
    parser.set_defaults(run=run)
    return parser


def _register_incident(subparsers: Any, accounts: Any) -> None:
    """Incident response (R68): `accounts suspend|reinstate`, `sessions end`, `keys revoke-all`, `users force-reset`."""
    held = "suspend: sessions end, keys and logins refused, sends and webhooks held"
    _command(accounts, "suspend", suspend, held, reason_required=True).add_argument("account_id", metavar="ACCOUNT_ID")
    back = "reinstate a suspended account: held sends and webhooks go out once"
    _command(accounts, "reinstate", reinstate, back).add_argument("account_id", metavar="ACCOUNT_ID")
    sessions = subparsers.add_parser("sessions", help="end customer sessions")
    sessions_actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    end = _command(sessions_actions, "end", end_sessions, "end every session of an account, or of one user")
    end.add_argument("--account", required=True, metavar="ACCOUNT_ID")
    end.add_argument("--user", metavar="USER_ID", help="only this user's sessions")
    keys = subparsers.add_parser("keys", help="customer API keys")
    keys_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    revoke = _command(keys_actions, "revoke-all", revoke_keys, "revoke every live API key of an account")
    revoke.add_argument("account_id", metavar="ACCOUNT_ID")
    users = subparsers.add_parser("users", help="customer users")
    users_actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = _command(users_actions, "force-reset", force_reset, "force a password reset: sessions end, link e-mailed")
    reset.add_argument("--account", required=True, metavar="ACCOUNT_ID")
    reset.add_argument("user_id", metavar="USER_ID")
