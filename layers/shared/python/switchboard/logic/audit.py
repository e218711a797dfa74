"""Recording audit events: every security-relevant action becomes one structured, append-only event."""

from __future__ import annotations

from switchboard import clock, ids
from switchboard.models.audit import AuditEvent, Outcome, Scalar
from switchboard.models.request import RequestMeta
from switchboard.observability import logger


def record(
    *,
    account_id: str,
    type: str,  # the field name API.md uses
    outcome: Outcome,
    actor: str,
    meta: RequestMeta | None = None,
    target: dict[str, str] | None = None,
    data: dict[str, Scalar] | None = None,
) -> AuditEvent:
    """Record one event for `account_id` and return it."""
    event = AuditEvent(
        id=ids.new_id("evt"),
        account_id=account_id,
        type=type,
        outcome=outcome,
        actor=actor,
        at=clock.rfc3339(clock.now()),
        source_ip=meta.source_ip if meta else "",
        user_agent=meta.user_agent if meta else "",
        request_id=meta.request_id if meta else "",
        target=target or {},
        data=data or {},
    )
    # Values are fields of one JSON record, never concatenated into the message (log injection, R56).
    logger.info("audit", extra={"audit": event.model_dump()})
    return event
