"""`switchboard`: log in with an API key, send messages, read the message log, import recipients, forward events to a
local server (docs/cli.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from switchboard_cli import account, messages, output, recipients, webhooks
from switchboard_cli.client import DEFAULT_API_URL, Problem, Unreachable, UsageError, checked_url

URL_ENV = "SWITCHBOARD_API_URL"
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C


def parser() -> argparse.ArgumentParser:
    """Global options and every command."""
    root = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard from a terminal, through the public API: log in with an API key, send messages, "
        "read the message log, import recipients, forward the account's events to a local server.",
        epilog="Exit status: 0 done, 1 the API refused or could not be reached, 2 usage error, 130 interrupted.",
    )
    root.add_argument(
        "--api-url",
        default=os.environ.get(URL_ENV) or DEFAULT_API_URL,
        help=f"the API's base URL (default: ${URL_ENV}, else {DEFAULT_API_URL}, make dev's stack)",
    )
    root.add_argument("-v", "--verbose", action="store_true", help="say more on stderr (idempotency keys, waits)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    account.register(commands)
    messages.register(commands)
    recipients.register(commands)
    webhooks.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status; expected failures are told in a line or two, never a traceback."""
    args = parser().parse_args(argv)
    try:
        args.api_url = checked_url(args.api_url)
        status: int = args.run(args)
    except Problem as refused:
        output.problem(refused)
        return 1
    except Unreachable as error:
        print(f"switchboard: {error} (is the API running? --api-url or ${URL_ENV} chooses it)", file=sys.stderr)
        return 1
    except UsageError as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nswitchboard: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader left (`| head`): say nothing more, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
