"""`switchboard-ops secrets list|rotate NAME`: versions of the platform's peppers and HMAC keys, rotation by version."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from ops_cli import output
from ops_cli.client import Client

VERSIONS = (("name", "secret"), ("version", "version"), ("current", "current"), ("created_at", "created"))
ROTATED = (
    ("name", "secret"),
    ("version", "new version"),
    ("previous", "previous (still verifies)"),
    ("created_at", "created"),
)


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": secret["name"], **version, "created_at": version["created_at"] or "at deploy"}
        for secret in answer["data"]
        for version in secret["versions"]
    ]


def list_secrets(args: argparse.Namespace, client: Client) -> int:
    """Every rotatable secret's versions, newest first, with dates (never a value)."""
    answer: dict[str, Any] = client.request("GET", "/ops/v1/secrets")
    output.emit(answer, as_json=args.json, human=lambda data: output.table(_rows(data), VERSIONS))
    return 0


def rotate(args: argparse.Namespace, client: Client) -> int:
    """Add the next version of NAME and make it current; older versions keep verifying (audited)."""
    answer: dict[str, Any] = client.request("POST", f"/ops/v1/secrets/{quote(args.name, safe='')}/rotate")
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, ROTATED))
    return 0


def register(subparsers: Any) -> None:
    """Add the `secrets` command group."""
    group = subparsers.add_parser("secrets", help="peppers and HMAC keys: list versions, rotate by version")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="each secret's versions and dates (never values)").set_defaults(run=list_secrets)
    rotate_parser = actions.add_parser("rotate", help="add the next version of a secret (audited)")
    rotate_parser.add_argument("name", metavar="NAME", help="password-pepper | api-key-pepper | blind-index-key")
    rotate_parser.set_defaults(run=rotate)
