"""`switchboard-ops`: operator actions on the operator API, signed with SigV4 (locally: make dev's operators)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ops_cli import output
from ops_cli.client import Client, Problem, Unreachable, UsageError, aws_client, local_client

# One module per command group, each with `register(subparsers)`; a lane adds its module's name here.
GROUPS: tuple[str, ...] = (
    "ops_cli.accounts",
    "ops_cli.access",
    "ops_cli.incidents",
    "ops_cli.secrets",
)
WHOAMI = (("id", "operator"), ("role", "role"), ("mfa", "MFA"), ("permissions", "permissions"))


def whoami(args: argparse.Namespace, client: Client) -> int:
    """Who the operator API sees: the role session name, the role, MFA and the role's permissions."""
    answer: dict[str, Any] = client.request("GET", "/ops/v1/whoami")
    output.emit(answer, as_json=args.json, human=lambda data: output.fields(data, WHOAMI))
    return 0


def _group_modules() -> list[Any]:
    modules = []
    for name in dict.fromkeys(GROUPS):  # a name listed twice (two merges) registers once
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise  # the group exists but something it imports does not: a real error
    return modules


def parser() -> argparse.ArgumentParser:
    """Global options, `whoami` and every command group that exists."""
    root = argparse.ArgumentParser(
        prog="switchboard-ops",
        description="Operator actions on Switchboard's operator API (SigV4-signed; every action is audited).",
    )
    root.add_argument(
        "--profile",
        help="local operator from .local/operators.json (alice, bob, carol); "
        "with --aws: the AWS profile of the assumed operator role",
    )
    root.add_argument("--endpoint", help="operator API URL (default: the local stack's, http://127.0.0.1:8080)")
    root.add_argument("--aws", action="store_true", help="sign with the AWS credential chain (deployed stages)")
    root.add_argument("--region", help="with --aws: the API's region (default: from the endpoint)")
    root.add_argument("--json", action="store_true", help="print the API's JSON answer")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    who = commands.add_parser("whoami", help="the operator the API sees")
    who.set_defaults(run=whoami)
    for module in _group_modules():
        module.register(commands)
    return root


def client_for(args: argparse.Namespace) -> Client:
    """The signing client the options ask for."""
    if args.aws:
        return aws_client(args.endpoint, args.region, args.profile)
    if not args.profile:
        raise UsageError("choose an operator: --profile alice (make dev's operators), or --aws when deployed")
    return local_client(args.profile, args.endpoint)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 1 when the API refused it (the problem is printed), 2 for usage errors."""
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args, client_for(args))
    except Problem as refused:
        output.problem(refused.status, refused.code, refused.detail, str(refused.document.get("request_id") or ""))
        return 1
    except (UsageError, Unreachable) as error:
        print(f"switchboard-ops: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
