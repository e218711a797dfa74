"""Paging: the bounds and default of every list's `?limit=` (API.md "pagination") and the one refusal."""

from __future__ import annotations

from switchboard.models.errors import BadRequest, ValidationFailed

MIN_LIMIT = 1
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
LIMIT_MESSAGE = f"A whole number from {MIN_LIMIT} to {MAX_LIMIT} (default {DEFAULT_LIMIT})."
CURSOR_MESSAGE = "The cursor is not one this API returned."


def check_limit(limit: int) -> int:
    """`limit`, or the same 422 `validation_failed` (pointer `/limit`) that the route's parameter answers."""
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise ValidationFailed.at("/limit", LIMIT_MESSAGE)
    return limit


def bad_cursor() -> BadRequest:
    """The 400 `invalid_cursor` of a list for a cursor it did not issue (forged, or of an older format)."""
    return BadRequest(CURSOR_MESSAGE, code="invalid_cursor")
