"""Circuit-breaker state per carrier in the Limits table: global items `pk=CIRCUIT#<carrier>`, `sk=CIRCUIT`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.messaging_table import load, values

TABLE_ENV = catalog.table("Limits").env
SK = "CIRCUIT"


def _key(carrier: str) -> dict[str, Any]:
    return {"pk": {"S": f"CIRCUIT#{carrier}"}, "sk": {"S": SK}}


def _update(carrier: str, expression: str, vals: dict[str, Any], condition: str | None = None) -> dict[str, Any] | None:
    request: dict[str, Any] = {
        "TableName": settings.get().table(TABLE_ENV),
        "Key": _key(carrier),
        "UpdateExpression": expression,
        "ReturnValues": "ALL_NEW",
    }
    if vals:
        request["ExpressionAttributeValues"] = values(vals)
    if condition:
        request["ConditionExpression"] = condition
    try:
        response = clients.dynamodb().update_item(**request)
    except ClientError as error:
        if clients.conditional_failed(error):
            return None
        raise
    return load(response.get("Attributes") or {})


@dataclass(frozen=True)
class CircuitState:
    """A carrier's breaker: failures counted in the current window, and until when it is open (None: closed)."""

    failures: int = 0
    open_until: float | None = None


def get(carrier: str) -> CircuitState:
    """The carrier's breaker state (closed, no failures, when it never failed)."""
    response = clients.dynamodb().get_item(
        TableName=settings.get().table(TABLE_ENV), Key=_key(carrier), ConsistentRead=True
    )
    item = load(response.get("Item") or {})
    open_until = item.get("open_until")
    return CircuitState(
        failures=int(item.get("failures") or 0), open_until=None if open_until is None else float(open_until)
    )


def add_failure(carrier: str, *, now: float, window_s: float) -> int:
    """Count a failure in the current window (a new window starts after `window_s`); the count so far."""
    cutoff = now - window_s
    # Two workers may both find the window stale; only one may restart it, the other counts into the new one.
    for _ in range(3):
        counted = _update(
            carrier,
            "SET failures = failures + :one",
            {":one": 1, ":cutoff": cutoff},
            condition="window_start >= :cutoff",
        )
        if counted is None:
            counted = _update(
                carrier,
                "SET failures = :one, window_start = :now",
                {":one": 1, ":now": now, ":cutoff": cutoff},
                condition="attribute_not_exists(window_start) OR window_start < :cutoff",
            )
        if counted is not None:
            return int(counted.get("failures", 1))
    return 1


def trip(carrier: str, *, until: float) -> None:
    """Open the circuit: every worker skips the carrier until `until`."""
    _update(carrier, "SET open_until = :until REMOVE probe_until", {":until": until})


def claim_probe(carrier: str, *, now: float, probe_s: float) -> bool:
    """After the cool-down, exactly one caller (per `probe_s`) may try the carrier again (half-open)."""
    claimed = _update(
        carrier,
        "SET probe_until = :probe",
        {":probe": now + probe_s, ":now": now},
        condition="open_until <= :now AND (attribute_not_exists(probe_until) OR probe_until < :now)",
    )
    return claimed is not None


def close(carrier: str) -> None:
    """A success: the circuit closes and the failure count restarts."""
    _update(carrier, "SET failures = :zero REMOVE open_until, probe_until", {":zero": 0})
