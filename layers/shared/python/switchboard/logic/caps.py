"""Per-account caps (finding 10): how many of each kind an account may hold, claimed atomically (dal.caps)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

from switchboard.dal import cursors
from switchboard.models import paging
from switchboard.models.errors import Conflict, ValidationFailed

_T = TypeVar("_T")

WEBHOOK_ENDPOINTS = "webhook_endpoints"
API_KEYS = "api_keys"
INVITATIONS = "invitations"
TEMPLATES = "templates"

# Stripe allows a handful of restricted keys per account and Twilio 20 API keys by default; 50 live keys (those in a
# rotation's grace period included) covers one per service and environment. Pending invitations: more than any
# team invites at once. Templates: the WhatsApp Business API's 250 templates per business account.
LIMITS: MappingProxyType[str, int] = MappingProxyType(
    {WEBHOOK_ENDPOINTS: 10, API_KEYS: 50, INVITATIONS: 50, TEMPLATES: 250}
)
_NOUNS = MappingProxyType(
    {
        WEBHOOK_ENDPOINTS: "webhook endpoints",
        API_KEYS: "live API keys",
        INVITATIONS: "pending invitations",
        TEMPLATES: "message templates",
    }
)
_FREE_ONE = MappingProxyType(
    {
        WEBHOOK_ENDPOINTS: "delete one first",
        API_KEYS: "revoke one first (a rotated key counts until its grace period ends)",
        INVITATIONS: "cancel one first, or wait until one is accepted or expires",
        TEMPLATES: "delete one first",
    }
)


class LimitExceeded(ValidationFailed):
    """422: the account already holds as many of this kind as it may; the body names the kind and the limit."""

    code = "limit_exceeded"

    def __init__(self, kind: str) -> None:
        limit = LIMITS[kind]
        super().__init__(
            f"An account can have at most {limit} {_NOUNS[kind]}; {_FREE_ONE[kind]}.",
            errors=[{"pointer": "", "message": f"at most {limit} {_NOUNS[kind]}"}],
        )
        self.extra |= {"limit": limit, "resource": kind}


@contextmanager
def capped(kind: str) -> Iterator[None]:
    """Map a full cap to 422 limit_exceeded and contention to 409 (retry)."""
    # The capped write loads PynamoDB anyway; handlers read this module's page bounds at import without it.
    from switchboard.dal import caps as caps_dal  # noqa: PLC0415

    try:
        yield
    except caps_dal.CapReached:
        raise LimitExceeded(kind) from None
    except caps_dal.Contended:
        raise Conflict(
            "Other requests took the free places meanwhile; try again.",
            code="concurrent_update",
            headers={"Retry-After": "1"},
        ) from None


# --- Pages over short, capped lists (read whole, then cut: every list here is bounded by a cap) ---------------

_KEY = re.compile(r"[a-z0-9_]{1,100}")  # what page keys are: ids, with a one-digit kind prefix for members


def _encode(key: str) -> str:
    # A cursor names the last key of its page, in the one codec of every list's cursors.
    return cursors.encode({"after": key})


def _decode(cursor: str) -> str:
    try:
        key = cursors.decode(cursor, keys={"after"})["after"]
    except cursors.InvalidCursor:
        raise paging.bad_cursor() from None
    if not _KEY.fullmatch(key):
        raise paging.bad_cursor()
    return key


def page(
    items: Sequence[_T], key: Callable[[_T], str], *, limit: int, cursor: str | None, newest_first: bool = False
) -> tuple[list[_T], str | None]:
    """`limit` items after the cursor's key, in `key` order, and the cursor of the next page (None at the end).

    `key` must be unique and its order stable (an id that sorts by creation time): a page never repeats or skips
    an item that existed on both reads.
    """
    paging.check_limit(limit)
    ordered = sorted(items, key=key, reverse=newest_first)
    if cursor:
        after = _decode(cursor)
        ordered = [i for i in ordered if (key(i) < after if newest_first else key(i) > after)]
    chosen = ordered[:limit]
    more = len(ordered) > limit
    return chosen, (_encode(key(chosen[-1])) if more else None)
