"""`switchboard recipients import FILE.csv`: validate every row, then send the good ones, resumably."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from switchboard_cli import importer, output
from switchboard_cli.account import client_for
from switchboard_cli.client import Unreachable, UsageError

MAX_FILE = 256 * 1024 * 1024  # read whole into memory to hash it: a larger file is better split


def _report(parsed: importer.Parsed, outcome: importer.Outcome, *, sent: bool) -> dict[str, Any]:
    return {
        "sha256": parsed.sha256,
        "rows": len(parsed.rows) + len(parsed.invalid),
        "blank_rows_skipped": parsed.blank,
        "valid": len(parsed.rows),
        "sent": sent,
        "imported": len(outcome.imported),
        "already_done": outcome.already_done,
        "replayed": outcome.replayed,
        "invalid": [asdict(bad) for bad in parsed.invalid],
        "failed": [
            {**asdict(failed), "pointers": [{"pointer": p, "message": m} for p, m in failed.pointers]}
            for failed in outcome.failed
        ],
    }


def _print_report(report: dict[str, Any], stopped: str | None) -> None:
    if report["invalid"]:
        print(f"{len(report['invalid'])} row(s) not sent, fix them and run again:")
        print(output.columns(report["invalid"], (("row", "ROW"), ("column", "COLUMN"), ("reason", "REASON"))))
    if report["failed"]:
        print(f"{len(report['failed'])} row(s) refused by the API:")
        lines = []
        for failed in report["failed"]:
            pointers = ", ".join(f"{p['pointer']} {p['message']}" for p in failed["pointers"])
            why = f"{failed['title']}: {failed['detail']}" + (f" ({pointers})" if pointers else "")
            lines.append({"row": failed["row"], "step": failed["step"], "why": why})
        print(output.columns(lines, (("row", "ROW"), ("step", "STEP"), ("why", "PROBLEM"))))
    verb = "Imported" if report["sent"] else "Valid (nothing sent: --dry-run)"
    count = report["imported"] if report["sent"] else report["valid"]
    print(
        f"{verb}: {count} of {report['rows']} rows; already done by an earlier run: {report['already_done']}; "
        f"answers replayed by the API: {report['replayed']}; blank rows skipped: {report['blank_rows_skipped']}."
    )
    if stopped:
        print(f"Stopped: {stopped}. Run the same command again to resume; nothing will be created twice.")


def import_csv(args: argparse.Namespace) -> int:
    """Validate, then send every good row not done yet; exit 1 if any row was refused or not sent."""
    path: Path = args.file
    try:
        if path.stat().st_size > MAX_FILE:
            raise UsageError(f"{path} is over {MAX_FILE // 2**20} MiB: split it")
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    parsed = importer.parse(raw)
    outcome = importer.Outcome()
    stopped: str | None = None
    status = 0
    if not args.dry_run and parsed.rows:
        client = client_for(args)
        account: dict[str, Any] = client.request("GET", "/v1/account").body
        journal_path = importer.Journal.name_for(path, parsed.sha256, str(account["id"]), args.state)
        journal = importer.Journal(
            journal_path, {"file": path.name, "sha256": parsed.sha256, "account_id": str(account["id"])}
        )
        journal.load()
        if args.verbose:
            print(f"journal: {journal_path}", file=sys.stderr)
        progress = output.Progress(len(parsed.rows), "importing", enabled=not args.no_progress)
        try:
            importer.send(client, parsed.rows, journal, parsed.sha256, advance=progress.advance, outcome=outcome)
        except importer.Stop as stop:
            refused = stop.refused
            stopped = f"row {stop.row}: {refused.title}: {refused.detail} (status {refused.status})"
            status = 1
        except Unreachable as error:
            stopped = str(error)
            status = 1
        except KeyboardInterrupt:
            stopped = "interrupted"
            status = 130
        finally:
            progress.close()
            journal.close()
    report = _report(parsed, outcome, sent=not args.dry_run)
    if args.json:
        print(json.dumps({**report, "stopped": stopped}, indent=2))
    else:
        _print_report(report, stopped)
    if status == 0 and (parsed.invalid or outcome.failed):
        status = 1
    return status


def register(commands: Any) -> None:
    """Add `recipients import`."""
    group = commands.add_parser("recipients", help="recipients and their consent")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    entry = actions.add_parser(
        "import",
        help="import recipients and their consent from a CSV file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check every row first and report the bad ones (row, column, reason) without sending them; then "
        "create each good row's recipient and record its consent (source `import`) on each channel it names.\n"
        "A journal beside the file (or in --state) records what the API confirmed, and each request's "
        "Idempotency-Key comes from the file's SHA-256 and the row number: run the same command again after an "
        "interruption and it resumes, creating nothing twice.\n\n" + importer.COLUMNS_HELP,
        epilog="Exit status: 0 every row imported; 1 a row was invalid or refused, or the run stopped; 2 usage "
        "error (a header it cannot use); 130 interrupted (run it again to resume).",
    )
    entry.add_argument("file", type=Path, metavar="FILE.csv")
    entry.add_argument("--state", type=Path, metavar="DIR", help="keep the journal in DIR instead of beside the file")
    entry.add_argument("--dry-run", action="store_true", help="only validate and report; send nothing")
    entry.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    entry.add_argument("--json", action="store_true", help="print the report as JSON")
    entry.set_defaults(run=import_csv)
