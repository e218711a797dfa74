"""Rate limits under moto: GCRA token buckets per key and per account, atomic, one UpdateItem per bucket."""

import threading
from typing import Any

import boto3
import pytest

from switchboard.dal import clients
from switchboard.logic import ratelimit
from tests.integration.frozen import T0, FrozenClock, frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.moto_atomic import serialized_moto


@pytest.fixture
def calls(aws: dict[str, str]) -> list[str]:
    seen: list[str] = []
    clients.dynamodb().meta.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: seen.append(event_name.rsplit(".", 1)[-1])
    )
    return seen


def check(account_id: str = "acct_a", key_id: str = "key_1", plan: str = "free") -> ratelimit.Decision:
    return ratelimit.check(account_id=account_id, key_id=key_id, plan=plan)


def test_ratelimit_allows_the_key_burst_then_refuses_with_retry_after(frozen: FrozenClock) -> None:
    decisions = [check() for _ in range(21)]
    assert all(d.allowed for d in decisions[:20])
    assert [d.remaining for d in decisions[:3]] == [19, 18, 17]
    refused = decisions[20]
    assert not refused.allowed
    assert refused.headers() == {
        "RateLimit-Limit": "20",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
        "Retry-After": "1",
    }


def test_ratelimit_session_requests_use_the_account_bucket(frozen: FrozenClock) -> None:
    decisions = [check(key_id="") for _ in range(41)]
    assert [d.allowed for d in decisions].count(True) == 40
    assert decisions[0].limit == 40
    assert decisions[40].allowed is False


def test_ratelimit_refills_as_the_clock_advances(frozen: FrozenClock) -> None:
    for _ in range(20):
        assert check().allowed
    assert not check().allowed
    frozen.advance(0.1)  # free plan: 10 per second per key, one token every 100 ms
    assert check().allowed
    assert not check().allowed
    frozen.advance(2.0)
    refilled = check()
    assert (refilled.allowed, refilled.remaining) == (True, 19)


def test_ratelimit_second_account_is_unaffected(frozen: FrozenClock) -> None:
    for _ in range(25):
        check()
    assert not check().allowed
    other = check(account_id="acct_b", key_id="key_9")
    assert (other.allowed, other.remaining) == (True, 19)


def test_ratelimit_refused_key_does_not_drain_its_account(frozen: FrozenClock) -> None:
    for _ in range(30):  # key_1: 20 admitted, 10 refused at the key and never charged to the account
        check(key_id="key_1")
    admitted = [check(key_id="key_2").allowed for _ in range(20)]
    assert all(admitted)  # the account's 40 = 20 + 20
    blocked = check(key_id="key_3")
    assert not blocked.allowed
    assert blocked.limit == 40  # the account bucket refused it


def test_ratelimit_reports_the_tighter_bucket(frozen: FrozenClock) -> None:
    for _ in range(15):
        check(key_id="key_1")
    # key_2: 20 left of its own, 25 of the account's; the key is tighter.
    first = check(key_id="key_2")
    assert (first.limit, first.remaining) == (20, 19)
    for _ in range(15):
        check(key_id="key_2")
    # key_2 has 4 left, the account 40 - 31 = 9: still the key.
    assert (check(key_id="key_2").remaining, check(key_id="key_3").remaining) == (3, 7)


def test_ratelimit_plan_sets_the_limits(frozen: FrozenClock) -> None:
    decisions = [check(plan="pro") for _ in range(101)]
    assert [d.allowed for d in decisions].count(True) == 100
    assert decisions[0].limit == 100
    assert check(account_id="acct_e", plan="enterprise").limit == 400
    assert check(account_id="acct_u", plan="no-such-plan").limit == 20


def test_ratelimit_concurrent_requests_never_exceed_the_burst(frozen: FrozenClock) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(24)

    def client() -> None:
        try:
            start.wait()
            results.extend(check(key_id="").allowed for _ in range(5))
        except BaseException as error:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(error)

    with serialized_moto():
        threads = [threading.Thread(target=client) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(results) == 120
    assert results.count(True) == 40


def test_ratelimit_uses_one_update_per_bucket_in_the_common_case(frozen: FrozenClock, calls: list[str]) -> None:
    check()  # idle buckets: the first guess (idle) is right
    assert calls == ["UpdateItem", "UpdateItem"]
    calls.clear()
    check()  # busy buckets, known busy from the last answer
    assert calls == ["UpdateItem", "UpdateItem"]
    calls.clear()
    frozen.advance(60)
    check()  # idle again: the remembered tat is in the past
    assert calls == ["UpdateItem", "UpdateItem"]
    calls.clear()
    ratelimit._last_seen._tats.clear()  # a fresh process meeting busy buckets falls back once per bucket
    assert check().allowed
    assert calls == ["UpdateItem"] * 4


def test_ratelimit_items_expire_after_their_bucket_is_full(frozen: FrozenClock, aws: dict[str, str]) -> None:
    check()
    items = boto3.client("dynamodb").scan(TableName=aws["LIMITS_TABLE"])["Items"]
    by_sk: dict[str, Any] = {i["sk"]["S"]: i for i in items}
    assert set(by_sk) == {"RATE#KEY#key_1", "RATE#ACCOUNT"}
    assert {i["pk"]["S"] for i in items} == {"ACCT#acct_a"}
    for item in items:
        tat_s = int(item["tat"]["N"]) / 1_000_000
        assert tat_s <= int(item["expires_at"]["N"]) <= T0 + 4 + ratelimit.EXPIRY_MARGIN_S + 1
