"""`switchboard login|logout`, and the client every other command gets from the stored key."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from switchboard_cli import credentials
from switchboard_cli.client import Client, Problem, UsageError


def client_for(args: argparse.Namespace) -> Client:
    """A client for `--api-url` with the key `login` stored (or SWITCHBOARD_API_KEY's)."""
    stored = credentials.load(args.api_url)
    if stored is None:
        raise UsageError(f"not logged in to {args.api_url}: run `switchboard login` or set {credentials.ENV_KEY}")
    return Client(args.api_url, stored.key)


def _read_key(args: argparse.Namespace) -> str:
    if args.api_key_stdin:
        typed = sys.stdin.readline()
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for the key on: pipe it in with --api-key-stdin")
        typed = getpass.getpass("API key (not shown): ")
    return credentials.checked_key(typed)


def login(args: argparse.Namespace) -> int:
    """Ask for an API key, check it with a cheap authenticated read, and store it (keyring, or the file with --file)."""
    key = _read_key(args)
    try:
        account: dict[str, Any] = Client(args.api_url, key).request("GET", "/v1/account").body
    except Problem as refused:
        if refused.status in {401, 403}:
            raise UsageError(f"{args.api_url} refused this key ({refused.title}): nothing was stored") from None
        raise
    where = credentials.save(args.api_url, key, to_file=args.file)
    print(f"Logged in to {account.get('name')} ({account.get('id')}) at {args.api_url}; the key is in {where}.")
    if os.environ.get(credentials.ENV_KEY):
        print(f"Note: {credentials.ENV_KEY} is set and wins over the stored key.", file=sys.stderr)
    return 0


def logout(args: argparse.Namespace) -> int:
    """Forget the stored key for `--api-url` (the key itself stays valid until it is revoked in the API)."""
    removed = credentials.remove(args.api_url)
    if removed:
        print(f"Logged out of {args.api_url}: removed the key from {' and '.join(removed)}.")
    else:
        print(f"No key was stored for {args.api_url}.")
    if os.environ.get(credentials.ENV_KEY):
        print(f"Note: {credentials.ENV_KEY} is still set, and commands still use it.", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    """Add `login` and `logout`."""
    entry = commands.add_parser(
        "login",
        help="store an API key (OS keyring; --file for a 0600 file)",
        description="Ask for an API key (hidden), check it against the API, and store it in the OS keyring. "
        f"With no usable keyring it refuses unless --file is given. {credentials.ENV_KEY}, when set, always wins.",
    )
    entry.add_argument("--api-key-stdin", action="store_true", help="read the key from standard input (one line)")
    entry.add_argument(
        "--file",
        action="store_true",
        help=f"store the key in {credentials.credentials_file()} (created 0600) instead of the keyring",
    )
    entry.set_defaults(run=login)
    leave = commands.add_parser("logout", help="forget the stored API key", description=logout.__doc__)
    leave.set_defaults(run=logout)
