"""What the commands print: JSON as the API gave it, plain tables and fields, problems and progress on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from switchboard_cli.client import Problem


def as_json(data: Any, out: TextIO | None = None) -> None:
    """The API's JSON, unchanged (indented, keys in the API's order)."""
    print(json.dumps(data, indent=2, ensure_ascii=False), file=out or sys.stdout)


def text(value: Any) -> str:
    """One value as a table cell: `-` for nothing, lists joined, objects as compact JSON."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(text(item) for item in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    # Control characters from the API (a message body, a name) never reach the terminal as escapes.
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))


def columns(rows: Sequence[dict[str, Any]], spec: Sequence[tuple[str, str]]) -> str:
    """An aligned table with a heading line: `spec` is (key, heading) per column; the last column is not padded."""
    grid = [[heading for _, heading in spec]] + [[text(row.get(key)) for key, _ in spec] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(spec))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in grid)


def labelled(pairs: Sequence[tuple[str, Any]]) -> str:
    """`label: value` lines, labels aligned; pairs whose value is None are left out."""
    shown = [(label, value) for label, value in pairs if value is not None]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join(f"{(label + ':').ljust(width + 1)} {text(value)}" for label, value in shown)


def problem(refused: Problem, out: TextIO | None = None) -> None:
    """`title: detail`, then each invalid field's pointer and message, and the request id to quote."""
    stream = out or sys.stderr
    head = f"{refused.title}: {refused.detail}" if refused.detail else refused.title
    print(f"error: {text(head)}", file=stream)
    for pointer, message in refused.pointers:
        print(f"  {text(pointer) or '/'}: {text(message)}", file=stream)
    request_id = refused.document.get("request_id")
    if request_id:
        print(f"  (status {refused.status}, code {refused.code or '-'}, request {text(request_id)})", file=stream)


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise, nothing when off."""

    WIDTH = 30

    def __init__(self, total: int, label: str, *, enabled: bool = True, out: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.enabled = enabled and self.total > 0
        self.out = out or sys.stderr
        self.interactive = self.out.isatty()
        self.done = 0
        self._last_tenth = -1
        self._last_draw = 0.0

    def advance(self, note: str = "") -> None:
        """One more item done."""
        self.done += 1
        if not self.enabled:
            return
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw >= 0.05 or self.done == self.total:  # redraw at most 20 times a second
                self._last_draw = now
                filled = self.WIDTH * self.done // self.total
                bar = "#" * filled + "-" * (self.WIDTH - filled)
                print(f"\r{self.label} [{bar}] {self.done}/{self.total} {note}".rstrip(), end="", file=self.out)
                self.out.flush()
            return
        tenth = 10 * self.done // self.total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            print(f"{self.label}: {self.done}/{self.total}", file=self.out, flush=True)

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self.enabled and self.interactive and self.done:
            print(file=self.out, flush=True)
