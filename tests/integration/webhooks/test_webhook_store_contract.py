"""One contract, two implementations: InMemoryWebhooks keeps endpoints, the delivery log and sealed events as
dal.webhooks does under moto.

The logic tests on the fake (tests/unit/test_webhooks_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.exceptions import InvalidTag

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import cursors
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.caps import CapReached
from switchboard.dal.webhooks import Delivery, Endpoint, PreviousSecret
from switchboard.logic.webhooks import WebhookStore
from tests.fakes.identity import SealedElsewhere
from tests.fakes.webhooks import InMemoryWebhooks

A, B = "acct_contract_a", "acct_contract_b"
T = 1_800_000_000
SEALED_ELSEWHERE = (SealedElsewhere, InvalidTag)


@pytest.fixture(params=["in_memory", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> WebhookStore:
    if request.param == "in_memory":
        return InMemoryWebhooks()
    request.getfixturevalue("aws")
    envelope.create_key(A)
    envelope.create_key(B)
    return webhooks_dal


def endpoint(repo: WebhookStore, account_id: str, n: int, events: set[str] | None = None) -> Endpoint:
    return repo.new_endpoint(
        account_id,
        f"whe_{n:04d}",
        url=f"https://hooks.example.com/{n}",
        events=events or {"message.status"},
        secret=f"whsec_{account_id}_{n}",
        created_by="usr_owner",
        created_at=1_800_000_000 + n,
    )


def delivery(endpoint_id: str, n: int) -> Delivery:
    """Attempt n of event n: failed with a 500 (endpoint, event, type, attempt, outcome, ms, at, expires, status)."""
    return Delivery(
        endpoint_id, f"evt_{n}", "message.status", n, "failed", n, T + n, T + n + 30 * 86400, 500, None, T + 60
    )


def test_a_stored_endpoint_reads_back_as_the_same_record_holding_a_slot(repo: WebhookStore) -> None:
    new = endpoint(repo, A, 1, {"message.status", "message.inbound"})
    assert new.cap_slot is None
    stored = repo.put_endpoint(new, cap=5)
    assert stored.cap_slot is not None
    assert dataclasses.replace(stored, cap_slot=None) == new
    assert repo.get_endpoint(A, "whe_0001") == stored
    assert repo.get_endpoint(B, "whe_0001") is None
    assert repo.get_endpoint(A, "whe_0002") is None


def test_endpoints_list_oldest_first_per_account(repo: WebhookStore) -> None:
    for n in (2, 1, 3):
        repo.put_endpoint(endpoint(repo, A, n), cap=5)
    repo.put_endpoint(endpoint(repo, B, 9), cap=5)
    assert [e.endpoint_id for e in repo.list_endpoints(A)] == ["whe_0001", "whe_0002", "whe_0003"]
    assert [e.endpoint_id for e in repo.list_endpoints(B)] == ["whe_0009"]
    assert repo.list_endpoints("acct_contract_none") == []


def test_the_cap_holds_and_a_delete_frees_its_slot(repo: WebhookStore) -> None:
    first = repo.put_endpoint(endpoint(repo, A, 1), cap=2)
    repo.put_endpoint(endpoint(repo, A, 2), cap=2)
    with pytest.raises(CapReached):
        repo.put_endpoint(endpoint(repo, A, 3), cap=2)
    repo.put_endpoint(endpoint(repo, B, 3), cap=2)  # another account's cap is its own
    repo.delete_endpoint(first)
    assert repo.get_endpoint(A, "whe_0001") is None
    repo.put_endpoint(endpoint(repo, A, 3), cap=2)
    assert [e.endpoint_id for e in repo.list_endpoints(A)] == ["whe_0002", "whe_0003"]


def test_a_secret_opens_on_its_own_endpoint_only(repo: WebhookStore) -> None:
    one = repo.put_endpoint(endpoint(repo, A, 1), cap=5)
    two = repo.put_endpoint(endpoint(repo, A, 2), cap=5)
    assert repo.endpoint_secret(one) == f"whsec_{A}_1"
    assert repo.endpoint_secret(two) == f"whsec_{A}_2"
    with pytest.raises(SEALED_ELSEWHERE):
        repo.endpoint_secret(dataclasses.replace(two, secret_sealed=one.secret_sealed))


def test_a_rotation_keeps_the_replaced_secret_sealed_and_loses_a_race(repo: WebhookStore) -> None:
    read = repo.put_endpoint(endpoint(repo, A, 1), cap=5)
    assert (read.secret_version, read.previous_secrets) == (1, ())
    kept = (PreviousSecret(sealed=read.secret_sealed, version=1, expires_at=T + 86400),)
    rotated = repo.rotate_secret(read, secret="whsec_new", previous=kept)
    assert rotated is not None and rotated.secret_version == 2
    stored = repo.get_endpoint(A, "whe_0001")
    assert stored is not None and (stored.secret_version, stored.previous_secrets) == (2, kept)
    assert repo.endpoint_secret(stored) == "whsec_new"
    assert repo.previous_secret(stored, stored.previous_secrets[0]) == f"whsec_{A}_1"
    assert [p.version for p in stored.live_previous(T + 86399)] == [1] and stored.live_previous(T + 86400) == ()
    racer = "whsec_racer"  # pragma: allowlist secret
    assert repo.rotate_secret(read, secret=racer, previous=()) is None  # read before the rotation won
    again = repo.get_endpoint(A, "whe_0001")
    assert again is not None and repo.endpoint_secret(again) == "whsec_new"
    other = repo.put_endpoint(endpoint(repo, A, 2), cap=5)
    with pytest.raises(SEALED_ELSEWHERE):
        repo.previous_secret(other, stored.previous_secrets[0])  # sealed to its own endpoint
    final = repo.rotate_secret(again, secret="whsec_last", previous=())
    assert final is not None and final.previous_secrets == ()
    stored = repo.get_endpoint(A, "whe_0001")
    assert stored is not None and stored.previous_secrets == () and stored.secret_version == 3


def test_the_delivery_log_pages_newest_first_per_account_and_endpoint(repo: WebhookStore) -> None:
    for n in range(5):
        clock.advance(1)  # attempt ids order by their millisecond: one per second, as retries come
        repo.put_delivery(A, delivery("whe_1", n))
    repo.put_delivery(A, delivery("whe_2", 7))
    repo.put_delivery(B, delivery("whe_1", 8))
    seen: list[Delivery] = []
    cursor: str | None = None
    for _ in range(5):
        page, cursor = repo.list_deliveries(A, "whe_1", limit=2, cursor=cursor)
        seen += page
        if cursor is None:
            break
    assert cursor is None
    assert seen == [delivery("whe_1", n) for n in (4, 3, 2, 1, 0)]
    assert repo.list_deliveries(B, "whe_1", limit=10)[0] == [delivery("whe_1", 8)]
    assert repo.list_deliveries(A, "whe_3", limit=10) == ([], None)


def test_a_cursor_of_another_log_is_refused(repo: WebhookStore) -> None:
    for n in range(3):
        repo.put_delivery(A, delivery("whe_1", n))
        repo.put_delivery(A, delivery("whe_2", n))
        repo.put_delivery(B, delivery("whe_1", n))
    _, other_endpoint = repo.list_deliveries(A, "whe_2", limit=1)
    _, other_account = repo.list_deliveries(B, "whe_1", limit=1)
    for cursor in (other_endpoint, other_account, "bogus", "e30"):
        assert cursor is not None
        with pytest.raises(cursors.InvalidCursor):
            repo.list_deliveries(A, "whe_1", limit=1, cursor=cursor)


def test_an_event_opens_for_its_own_account_and_id_only(repo: WebhookStore) -> None:
    sealed = repo.seal_event(A, "evt_1", '{"id":"evt_1"}')
    assert repo.open_event(A, "evt_1", sealed) == '{"id":"evt_1"}'
    with pytest.raises(SEALED_ELSEWHERE):
        repo.open_event(A, "evt_2", sealed)
    with pytest.raises(SEALED_ELSEWHERE):
        repo.open_event(B, "evt_1", sealed)
