"""Plans and their rate limits (API.md "rate limits"): the one place the numbers live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlanName = Literal["free", "pro", "enterprise"]
DEFAULT_PLAN: PlanName = "free"


@dataclass(frozen=True)
class Bucket:
    """A token bucket: refills `rate_per_s` tokens a second and holds at most `burst`."""

    rate_per_s: int
    burst: int


@dataclass(frozen=True)
class Plan:
    """What a plan allows: one bucket per API key and one per account."""

    name: PlanName
    per_key: Bucket
    per_account: Bucket


PLANS: dict[str, Plan] = {
    "free": Plan("free", per_key=Bucket(10, 20), per_account=Bucket(20, 40)),
    "pro": Plan("pro", per_key=Bucket(50, 100), per_account=Bucket(100, 200)),
    "enterprise": Plan("enterprise", per_key=Bucket(200, 400), per_account=Bucket(500, 1000)),
}


def get(name: str) -> Plan:
    """The plan called `name`; an unknown or empty name gets the free plan (the safe, lowest limits)."""
    return PLANS.get(name, PLANS[DEFAULT_PLAN])


# Messages an account may send per UTC day (API sends and broadcast recipients alike); over it → 429 quota_exceeded.
DAILY_MESSAGES: dict[str, int] = {"free": 5_000, "pro": 200_000, "enterprise": 5_000_000}


def daily_messages(name: str) -> int:
    """The daily message quota of the plan called `name` (the free plan's for an unknown name)."""
    return DAILY_MESSAGES.get(name, DAILY_MESSAGES[DEFAULT_PLAN])


# Bytes of files an account may store (switchboard.logic.files); over it an upload is 413 storage_limit_exceeded.
GIB = 1024 * 1024 * 1024
STORAGE_BYTES: dict[str, int] = {"free": GIB // 10, "pro": 10 * GIB, "enterprise": 100 * GIB}


def storage_bytes(name: str) -> int:
    """The file storage of the plan called `name` (the free plan's for an unknown name)."""
    return STORAGE_BYTES.get(name, STORAGE_BYTES[DEFAULT_PLAN])
