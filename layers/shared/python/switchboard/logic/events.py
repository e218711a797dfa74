"""The account's event log as the API serves it: events after a cursor, by type, long-polled (GET /v1/events)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.dal import events as events_dal
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.events import StoredEvent
from switchboard.models import paging
from switchboard.models.errors import NotFound, ProblemError, ValidationFailed
from switchboard.models.webhooks import EventList, EventOut, EventType

NOW = "now"  # `after=now`: only events newer than the newest one the log holds when the request comes
MAX_WAIT_S = 20  # API Gateway answers within 29 s: a long-poll must end well before that
POLL_S = 1.0  # how often a waiting request looks again
# An event is listed once it is this old: ids follow creation time, but two functions' writes can land out of
# order by a few milliseconds; a cursor past an event written a moment late would skip it for good.
SETTLE_S = 1.0
# A type filter can skip many events: one check reads at most this many before answering with what it found (its
# next_cursor moves past the skipped ones, so the next call goes on from there).
MAX_EXAMINED = 1000
EVENT_ID = re.compile(r"evt_[0-9a-hjkmnp-tv-z]{26}")  # ids.new_id("evt"): Crockford base32, lower case
UNKNOWN_CURSOR = (
    "Not an event of this account still in its log (events are kept 3 days): start again without `after`, "
    "or with `after=now`."
)


class EventLog(Protocol):
    """The account's logged events: `dal.events` under moto, or an in-memory list."""

    def get(self, account_id: str, event_id: str) -> StoredEvent | None: ...
    def newest(self, account_id: str) -> str | None: ...
    def after(self, account_id: str, event_id: str | None, *, before: str, limit: int) -> list[StoredEvent]: ...


@dataclass(frozen=True)
class Ports:
    """Where events are read and opened, and how a long-poll waits (real time: the platform clock may be held)."""

    log: EventLog = events_dal
    open_event: Callable[[str, str, str], str] = webhooks_dal.open_event
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


LIVE = Ports()


class CursorGone(ProblemError):
    """410: a well-formed `after` that this account's log does not hold (another account's, forged, or past its
    3 days): start again from now; nothing else is wrong with the request."""

    status = 410
    code = "invalid_cursor"
    title = "Gone"


def parse_types(types: str | None) -> frozenset[str] | None:
    """`?types=message.status,recipient.opted_out` as a set; None for every type; 422 for an unknown one."""
    if types is None:
        return None
    names = [t.strip() for t in types.split(",")]
    known = {e.value for e in EventType}
    wrong = [n for n in names if n not in known]
    if wrong:
        raise ValidationFailed.at(
            "/types", f"Unknown event type(s) {', '.join(map(repr, wrong))}: use {', '.join(sorted(known))}."
        )
    return frozenset(names)


def _out(account_id: str, event: StoredEvent, ports: Ports) -> EventOut:
    return EventOut.model_validate(json.loads(ports.open_event(account_id, event.event_id, event.sealed)))


def _start(account_id: str, after: str | None, ports: Ports) -> str | None:
    """The event id to list after (None: from the oldest kept); 410 (CursorGone) for one this account's log does not
    hold."""
    if after == NOW:
        return ports.log.newest(account_id)
    if after is not None and ports.log.get(account_id, after) is None:
        raise CursorGone(UNKNOWN_CURSOR)
    return after


def _read(
    account_id: str, cursor: str | None, types: frozenset[str] | None, limit: int, ports: Ports
) -> tuple[list[StoredEvent], str | None]:
    """The settled events after `cursor` that match, up to `limit`, and the last event examined (else `cursor`)."""
    before = ids.first_id_at("evt", clock.timestamp() - SETTLE_S)
    found: list[StoredEvent] = []
    examined = 0
    while len(found) < limit and examined < MAX_EXAMINED:
        page = ports.log.after(account_id, cursor, before=before, limit=paging.MAX_LIMIT)
        for event in page:
            examined += 1
            cursor = event.event_id
            if event.sealed and (types is None or event.event_type in types):  # a tombstone is skipped
                found.append(event)
                if len(found) == limit:
                    break
        if len(page) < paging.MAX_LIMIT:
            break
    return found, cursor


def list_events(
    principal: Principal,
    *,
    after: str | None = None,
    types: str | None = None,
    limit: int = paging.DEFAULT_LIMIT,
    wait: int = 0,
    ports: Ports = LIVE,
) -> EventList:
    """GET /v1/events: the account's events strictly after `after`, oldest first.

    With `wait` (seconds), a call that finds nothing looks again about every second until an event comes or the
    time is up. `next_cursor` is the `after` of the next call: the last event returned (or skipped by `types`), or
    this call's own `after` when there was nothing newer; it never goes backwards, so following it misses nothing.
    """
    paging.check_limit(limit)
    if not 0 <= wait <= MAX_WAIT_S:
        raise ValidationFailed.at("/wait", f"A whole number of seconds from 0 to {MAX_WAIT_S}.")
    wanted = parse_types(types)
    account_id = principal.account_id
    cursor = _start(account_id, after, ports)
    deadline = ports.monotonic() + wait
    while True:
        found, cursor = _read(account_id, cursor, wanted, limit, ports)
        left = deadline - ports.monotonic()
        if found or left <= 0:
            return EventList(data=[_out(account_id, e, ports) for e in found], next_cursor=cursor)
        ports.sleep(min(POLL_S, left))


def get_event(principal: Principal, event_id: str, *, ports: Ports = LIVE) -> EventOut:
    """GET /v1/events/{id}: one event of the account's log (404 for another account's, an expired or erased one)."""
    event = ports.log.get(principal.account_id, event_id) if EVENT_ID.fullmatch(event_id) else None
    if event is None or not event.sealed:
        raise NotFound("No event with this id in this account's log (events are kept 3 days).")
    return _out(principal.account_id, event, ports)
