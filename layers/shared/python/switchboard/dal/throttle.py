"""Login throttles in the Limits table: global items `LIMIT#LOGIN#EMAIL#<blind index>` and `LIMIT#LOGIN#IP#<ip>`."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from switchboard.dal import clients
from switchboard.dal.base import BaseItem

SK = "LOGIN"


class LoginThrottleItem(BaseItem):
    """Failures in the current window and, once over the limit, when the lock lifts."""

    TABLE_ENV: ClassVar[str] = "LIMITS_TABLE"

    class Meta:
        table_name = ""

    failures = NumberAttribute(default=0)
    window_start = NumberAttribute()
    locked_until = NumberAttribute(default=0)
    expires_at = NumberAttribute()


def get(pk: str) -> LoginThrottleItem | None:
    """The throttle item, or None."""
    try:
        return LoginThrottleItem.get(pk, SK, consistent_read=True)
    except DoesNotExist:
        return None


def add_failure(pk: str, *, now: int, window_s: int) -> int:
    """Count one failure in the current window (a new window when the last one is over); the new count, atomically."""
    for _ in range(3):
        item = LoginThrottleItem(pk, SK)
        try:
            item.update(
                actions=[LoginThrottleItem.failures.add(1)],
                condition=LoginThrottleItem.window_start >= now - window_s,
            )
            return int(item.failures)
        except UpdateError as error:
            if not clients.conditional_failed(error):
                raise
        fresh = LoginThrottleItem(pk, SK, failures=1, window_start=now, locked_until=0, expires_at=now + 2 * window_s)
        try:
            fresh.save(
                condition=LoginThrottleItem.pk.does_not_exist() | (LoginThrottleItem.window_start < now - window_s)
            )
            return 1
        except PutError as error:
            if not clients.conditional_failed(error):
                raise
    raise RuntimeError("login throttle kept changing under us")


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
