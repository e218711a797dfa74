"""The console's templates (Jinja2, autoescaped, strict) and its one stylesheet."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from switchboard import clock

HERE = Path(__file__).parent
STYLESHEET = HERE / "static" / "console.css"


@cache
def stylesheet() -> tuple[str, str]:
    """The stylesheet and its version (a digest: the URL changes when the file does, so it may be cached)."""
    text = STYLESHEET.read_text(encoding="utf-8")
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


def when(value: Any) -> str:
    """An RFC 3339 time (or epoch seconds) as `2026-12-03 17:52 UTC`; anything else as it is."""
    if value in (None, ""):
        return "—"
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = clock.parse(str(value)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@cache
def environment() -> Environment:
    """One environment per process: autoescape on for every template, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.globals["stylesheet_version"] = stylesheet()[1]
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` renders with `context`."""
    return environment().get_template(template).render(**context)
