"""The delivery log's repository under moto: a declared record on the Messaging table, paged by the one cursor codec."""

from __future__ import annotations

import pytest

from switchboard import clock
from switchboard.dal import cursors, messaging_table
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.keys import account_pk
from switchboard.dal.webhooks import Delivery


def _delivery(endpoint_id: str, n: int) -> Delivery:
    return Delivery(
        endpoint_id=endpoint_id,
        event_id=f"evt_{n}",
        event_type="message.status",
        attempt=n,
        outcome="failed" if n % 2 else "delivered",
        duration_ms=10 * n,
        at=1_800_000_000 + n,
        expires_at=1_800_000_000 + n + 30 * 86400,
        status_code=500 if n % 2 else 200,
        next_retry_at=1_800_000_060 + n if n % 2 else None,
    )


def test_the_log_pages_newest_first_per_endpoint(aws: dict[str, str]) -> None:
    for n in range(5):
        clock.advance(1)  # attempt ids order by their millisecond: one per second, as retries come
        webhooks_dal.put_delivery("acct_a", _delivery("whe_1", n))
    webhooks_dal.put_delivery("acct_a", _delivery("whe_2", 9))
    webhooks_dal.put_delivery("acct_b", _delivery("whe_1", 8))

    seen: list[Delivery] = []
    cursor: str | None = None
    for _ in range(5):
        page, cursor = webhooks_dal.list_deliveries("acct_a", "whe_1", limit=2, cursor=cursor)
        seen += page
        if cursor is None:
            break
    assert cursor is None
    assert seen == [_delivery("whe_1", n) for n in (4, 3, 2, 1, 0)]  # attempt ids sort by time: newest first


def test_a_cursor_of_another_endpoint_account_or_shape_is_refused(aws: dict[str, str]) -> None:
    for n in range(3):
        webhooks_dal.put_delivery("acct_a", _delivery("whe_1", n))
        webhooks_dal.put_delivery("acct_a", _delivery("whe_2", n))
        webhooks_dal.put_delivery("acct_b", _delivery("whe_1", n))
    _, other_endpoint = webhooks_dal.list_deliveries("acct_a", "whe_2", limit=1)
    _, other_account = webhooks_dal.list_deliveries("acct_b", "whe_1", limit=1)
    forged = cursors.encode({"pk": account_pk("acct_a"), "sk": "WHE#whe_1"})
    for cursor in (other_endpoint, other_account, forged, "bogus", "e30", "!!"):
        assert cursor is not None
        with pytest.raises(cursors.InvalidCursor):
            webhooks_dal.list_deliveries("acct_a", "whe_1", limit=1, cursor=cursor)


def test_an_entry_the_pynamodb_model_wrote_reads_as_a_record(aws: dict[str, str]) -> None:
    # The model left out null attributes and stored every number as N: the record reads that shape unchanged.
    messaging_table.put(
        {
            "pk": account_pk("acct_a"),
            "sk": webhooks_dal.delivery_prefix("whe_1") + "wha_old",
            "endpoint_id": "whe_1",
            "event_id": "evt_old",
            "event_type": "message.inbound",
            "attempt": 2,
            "outcome": "refused",
            "error": "loopback address",
            "duration_ms": 0,
            "at": 1_800_000_000,
            "expires_at": 1_802_592_000,
        }
    )
    [entry], _ = webhooks_dal.list_deliveries("acct_a", "whe_1", limit=10)
    assert entry == Delivery(
        endpoint_id="whe_1",
        event_id="evt_old",
        event_type="message.inbound",
        attempt=2,
        outcome="refused",
        duration_ms=0,
        at=1_800_000_000,
        expires_at=1_802_592_000,
        error="loopback address",
    )
