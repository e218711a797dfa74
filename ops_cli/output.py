"""Output every command shares: JSON (`--json`) or a plain table, problems on stderr, progress for long work."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

_T = TypeVar("_T")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """`rows` as an aligned text table of `columns` (key, heading); a missing or null value shows as `-`."""
    headings = [heading for _, heading in columns]
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headings)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def fields(record: dict[str, Any], names: Sequence[tuple[str, str]] | None = None) -> str:
    """One record as `name  value` lines (all its keys, or `names` as (key, label))."""
    chosen = names or [(key, key) for key in record]
    width = max((len(label) for _, label in chosen), default=0)
    return "\n".join(f"{label.ljust(width)}  {_cell(record.get(key))}" for key, label in chosen)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def emit(data: Any, *, as_json: bool, human: Callable[[Any], str], out: TextIO | None = None) -> None:
    """Print an answer: exactly the API's JSON with `--json`, else its human rendering."""
    stream = out or sys.stdout
    print(json.dumps(data, indent=2, sort_keys=True) if as_json else human(data), file=stream)


def problem(status: int, code: str, detail: str, request_id: str = "", out: TextIO | None = None) -> None:
    """An error answer, on stderr: what was refused and why, and the request id to quote."""
    stream = out or sys.stderr
    suffix = f" (request {request_id})" if request_id else ""
    print(f"error: {status} {code or 'error'}: {detail}{suffix}", file=stream)


def progress(items: Iterable[_T], *, total: int | None, label: str, out: TextIO | None = None) -> Iterator[_T]:
    """Yield `items`, showing `label n/total` on stderr as work advances (a line per step when not a terminal)."""
    stream = out or sys.stderr
    interactive = stream.isatty()
    done = 0
    for item in items:
        yield item
        done += 1
        shown = f"{label} {done}/{total}" if total is not None else f"{label} {done}"
        print(("\r" + shown) if interactive else shown, end="" if interactive else "\n", file=stream, flush=True)
    if interactive and done:
        print(file=stream)
