"""Login throttles in the Limits table: global items `LIMIT#LOGIN#EMAIL#<blind index>` and `LIMIT#LOGIN#IP#<ip digest>`.

Each item counts the attempt slots taken in the current window (`failures`: attempts that failed or are still being
checked). A slot is reserved with one conditional update BEFORE the password is verified, so parallel guesses can
never take more slots than the limit; a slot whose attempt succeeded is given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, cast

from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import UpdateError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.base import BaseItem

SK = "LOGIN"
TABLE_ENV = catalog.table("Limits").env


class LoginThrottleItem(BaseItem):
    """Slots taken in the current window and, once over the limit, when the lock lifts."""

    TABLE_ENV: ClassVar[str] = catalog.table("Limits").env

    class Meta:
        table_name = ""

    failures = NumberAttribute(default=0)
    window_start = NumberAttribute()
    locked_until = NumberAttribute(default=0)
    expires_at = NumberAttribute()


def email_key(email_index: str) -> str:
    """Keyed by the e-mail's blind index, whether or not a user has it (lockout reveals nothing)."""
    return f"LIMIT#LOGIN#EMAIL#{email_index}"


def ip_key(ip_digest: str) -> str:
    """Keyed by a keyed digest of the client IP: the table holds no address."""
    return f"LIMIT#LOGIN#IP#{ip_digest}"


@dataclass(frozen=True)
class Slot:
    """A reserved attempt: which item, its window, and the slot's number in that window (1 = the first)."""

    key: str  # the throttled item's partition key
    window_start: int
    number: int


@dataclass(frozen=True)
class Refusal:
    """No slot: the item is locked until `locked_until` (0: not locked, only full of attempts still in flight)."""

    locked_until: int


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": SK}}


def _number(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if value else 0


def reserve(pk: str, *, now: int, window_s: int, limit: int) -> Slot | Refusal:
    """Take one of the window's `limit` slots atomically, or say why not (the stored item decides, not a prior read)."""
    table = settings.get().table(TABLE_ENV)
    client = clients.dynamodb()
    values = {":one": 1, ":limit": limit, ":oldest": now - window_s, ":now": now, ":expires": now + 2 * window_s}
    for _ in range(3):
        try:
            response = client.update_item(
                TableName=table,
                Key=_key(pk),
                UpdateExpression="ADD failures :one SET expires_at = :expires",
                ConditionExpression="window_start >= :oldest AND failures < :limit AND locked_until <= :now",
                ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            stored = response["Attributes"]
            return Slot(key=pk, window_start=_number(stored, "window_start"), number=_number(stored, "failures"))
        except ClientError as error:
            if not clients.conditional_failed(error):
                raise
            old = cast(dict[str, Any], error.response).get("Item") or {}
        locked_until = _number(old, "locked_until")
        if locked_until > now:
            return Refusal(locked_until=locked_until)
        if old and _number(old, "window_start") >= now - window_s:
            return Refusal(locked_until=0)  # the window's slots are all taken by attempts still being checked
        # No item, or its window is over (and no lock holds): a new window starting with this slot.
        try:
            client.put_item(
                TableName=table,
                Item={
                    **_key(pk),
                    "failures": {"N": "1"},
                    "window_start": {"N": str(now)},
                    "locked_until": {"N": "0"},
                    "expires_at": {"N": str(now + 2 * window_s)},
                },
                ConditionExpression="attribute_not_exists(pk) OR (window_start < :oldest AND locked_until <= :now)",
                ExpressionAttributeValues={":oldest": {"N": str(now - window_s)}, ":now": {"N": str(now)}},
            )
            return Slot(key=pk, window_start=now, number=1)
        except ClientError as error:
            if not clients.conditional_failed(error):
                raise
    # Only reachable when the item keeps changing shape under us; refusing is the safe answer.
    return Refusal(locked_until=0)


def release(slot: Slot) -> None:
    """Give a slot back (its attempt succeeded, or never guessed); a no-op once its window was replaced or cleared."""
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key=_key(slot.key),
            UpdateExpression="ADD failures :minus",
            ConditionExpression="window_start = :window AND failures > :zero",
            ExpressionAttributeValues={
                ":minus": {"N": "-1"},
                ":window": {"N": str(slot.window_start)},
                ":zero": {"N": "0"},
            },
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise


def lock(pk: str, *, until: int) -> bool:
    """Lock until `until`; True only for the call that set the lock (one lockout e-mail)."""
    try:
        LoginThrottleItem(pk, SK).update(
            actions=[LoginThrottleItem.locked_until.set(until), LoginThrottleItem.expires_at.set(until + 60)],
            condition=LoginThrottleItem.pk.exists() & (LoginThrottleItem.locked_until < until - 60),
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def clear(pk: str) -> None:
    """Forget failures and any lock."""
    LoginThrottleItem(pk, SK).delete()
