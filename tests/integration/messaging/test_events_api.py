"""The account's event log and GET /v1/events: recorded with or without endpoints, cursors, types, long-poll,
isolation, roles, bad parameters, erasure, and nothing personal in the clear."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from functions.events_api import handler as events_api
from functions.recipients_api import handler as recipients_api
from switchboard import clock
from switchboard.dal import events as events_dal
from switchboard.logic import events, webhooks
from switchboard.models.webhooks import DeliveryJob
from tests.integration.messaging.conftest import Account, Queues
from tests.integration.webhooks.conftest import add_endpoint

PHONE = "+14155550123"
BODY = "Meet me at the usual place at 7"


def publish(account: Account, kind: str = "message.status", **data: Any) -> str:
    """Publish one event and return its id (read back from the log: publish returns the deliveries queued)."""
    before = events_dal.newest(account.account_id)
    webhooks.publish(account.account_id, kind, {"n": len(data), **data})
    newest = events_dal.newest(account.account_id)
    assert newest is not None and newest != before
    return newest


def live_recipient(account: Account) -> str:
    """A recipient of the account (an event linked to a recipient that is gone is an erased person's: not logged)."""
    answer = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "name": "Ada"})
    assert answer.status == 201, answer.body
    return str(answer.body["id"])


def settle() -> None:
    """Move the platform clock past the settle delay, so every event published so far is listed."""
    clock.advance(events.SETTLE_S + 1)


def listing(account: Account, role: str = "developer", **query: str) -> Any:
    return account.call(events_api, "GET", "/v1/events", query=query or None, role=role)


def test_events_are_logged_without_an_endpoint_and_listed_as_webhooks_deliver_them(
    account: Account, queues: Queues
) -> None:
    rid = live_recipient(account)
    quiet = publish(account, "recipient.opted_out", recipient_id=rid, channel="sms")
    assert queues.drain("Callbacks") == []  # no endpoint: nothing queued, yet the event is kept
    add_endpoint(account.account_id, "whe_1", "https://hooks.example.com/a", {"message.status"})
    loud = publish(account, "message.status", id="msg_1", status="delivered")
    [job] = [DeliveryJob.model_validate_json(m["Body"]) for m in queues.drain("Callbacks")]
    assert job.event_id == loud
    settle()

    answer = listing(account)
    assert answer.status == 200, answer.body
    assert [e["id"] for e in answer.body["data"]] == [quiet, loud]
    # The very body a webhook delivery carries, key for key and in the same order.
    assert answer.body["data"][1] == json.loads(webhooks.open_event(job))
    assert list(answer.body["data"][1]) == ["id", "type", "created_at", "data"]
    assert answer.body["next_cursor"] == loud
    one = account.call(events_api, "GET", f"/v1/events/{quiet}")
    assert one.status == 200
    assert one.body == answer.body["data"][0]
    assert one.body["data"] == {"n": 2, "recipient_id": rid, "channel": "sms"}


def test_cursor_pages_oldest_first_and_never_goes_backwards(account: Account, queues: Queues) -> None:
    published = [publish(account, id=f"msg_{n}") for n in range(5)]
    settle()
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        answer = listing(account, limit="2", **({"after": cursor} if cursor else {}))
        assert answer.status == 200, answer.body
        seen += [e["id"] for e in answer.body["data"]]
        cursor = answer.body["next_cursor"]
    assert seen == published
    assert cursor == published[-1]
    # Nothing newer: empty, and the cursor stays where it was.
    assert listing(account, after=cursor).body == {"data": [], "next_cursor": cursor}
    later = publish(account, id="msg_later")
    settle()
    assert [e["id"] for e in listing(account, after=cursor).body["data"]] == [later]


def test_an_event_is_listed_only_once_settled(account: Account, queues: Queues) -> None:
    fresh = publish(account)
    assert listing(account).body == {"data": [], "next_cursor": None}
    settle()
    assert [e["id"] for e in listing(account).body["data"]] == [fresh]


def test_types_filter_and_the_cursor_moves_past_skipped_events(account: Account, queues: Queues) -> None:
    status = publish(account, "message.status", id="msg_1")
    opt_out = publish(account, "recipient.opted_out", recipient_id=live_recipient(account))
    last = publish(account, "message.status", id="msg_2")
    settle()
    answer = listing(account, types="recipient.opted_out,message.inbound")
    assert [e["id"] for e in answer.body["data"]] == [opt_out]
    assert answer.body["next_cursor"] == last  # it read up to the newest, so the next call starts after it
    assert listing(account, types="recipient.opted_out", limit="1").body["next_cursor"] == opt_out  # a full page
    nothing = listing(account, types="recipient.opted_out", after=opt_out)
    assert nothing.body == {"data": [], "next_cursor": last}  # past the skipped message.status
    assert [e["id"] for e in listing(account, types="message.status").body["data"]] == [status, last]


def test_after_now_skips_what_the_log_already_holds(account: Account, queues: Queues) -> None:
    assert listing(account, after="now").body == {"data": [], "next_cursor": None}
    old = publish(account)
    settle()
    answer = listing(account, after="now")
    assert answer.body == {"data": [], "next_cursor": old}
    new = publish(account)
    settle()
    assert [e["id"] for e in listing(account, after=old).body["data"]] == [new]


def test_long_poll_answers_as_soon_as_an_event_arrives(account: Account, queues: Queues) -> None:
    start = publish(account)
    settle()
    waited: list[float] = []
    elapsed = [0.0]
    arrived: list[str] = []

    def sleep(seconds: float) -> None:
        # An event arrives while the request waits (and a moment later it is settled).
        waited.append(seconds)
        elapsed[0] += seconds
        if len(waited) == 2 and not arrived:
            arrived.append(publish(account, id="msg_new"))
            settle()

    ports = events.Ports(sleep=sleep, monotonic=lambda: elapsed[0])
    principal = _principal(account)
    out = events.list_events(principal, after=start, wait=15, ports=ports)
    assert [e.data["id"] for e in out.data] == ["msg_new"]
    assert waited == [1.0, 1.0]  # it looked about every second and answered at the first look after the event

    waited.clear()
    elapsed[0] = 0.0
    empty = events.list_events(principal, after=out.next_cursor, wait=3, ports=ports)
    assert empty.data == []
    assert empty.next_cursor == out.next_cursor
    assert sum(waited) == pytest.approx(3.0)


def test_long_poll_through_the_handler_returns_empty_after_wait(account: Account, queues: Queues) -> None:
    started = time.monotonic()
    answer = listing(account, after="now", wait="1")
    assert answer.status == 200
    assert answer.body == {"data": [], "next_cursor": None}
    assert 0.9 <= time.monotonic() - started < 5


def test_another_accounts_events_cursor_and_event_are_never_visible(
    account: Account, other_account: Account, queues: Queues
) -> None:
    theirs = publish(other_account, "message.inbound", body=BODY)
    settle()
    assert listing(account).body == {"data": [], "next_cursor": None}
    refused = listing(account, after=theirs)
    assert refused.status == 410
    assert refused.body["code"] == "invalid_cursor"
    assert BODY not in json.dumps(refused.body)
    assert account.call(events_api, "GET", f"/v1/events/{theirs}").status == 404
    assert [e["id"] for e in listing(other_account).body["data"]] == [theirs]


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_viewers_and_agents_are_refused(account: Account, queues: Queues, role: str) -> None:
    event_id = publish(account)
    settle()
    for path in ("/v1/events", f"/v1/events/{event_id}"):
        answer = account.call(events_api, "GET", path, role=role)
        assert answer.status == 403, answer.body
        assert answer.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"limit": "abc"}, 422),
        ({"limit": "-1"}, 422),
        ({"limit": "0"}, 422),
        ({"limit": "101"}, 422),
        ({"limit": "99999999999999999999999"}, 422),
        ({"wait": "soon"}, 422),
        ({"wait": "-1"}, 422),
        ({"wait": "21"}, 422),
        ({"wait": "1.5"}, 422),
        ({"wait": "99999999999999999999999"}, 422),
        ({"types": "message.deleted"}, 422),
        ({"types": "message.status,"}, 422),
        ({"types": ""}, 422),
        ({"after": "garbage"}, 422),
        ({"after": "evt_" + "0" * 200}, 422),
        ({"after": "evt_" + "u" * 26}, 422),  # not Crockford base32
        ({"after": "evt_01kbx9d0f6p3f4m8d0a3f1qz9c"}, 410),  # well-formed, but no event of this account
    ],
)
def test_bad_parameters_are_problems(account: Account, queues: Queues, query: dict[str, str], status: int) -> None:
    answer = listing(account, **query)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_an_unknown_or_garbled_event_id_is_404(account: Account, queues: Queues) -> None:
    for event_id in ("evt_01kbx9d0f6p3f4m8d0a3f1qz9c", "nope", "evt_" + "x" * 300):
        answer = account.call(events_api, "GET", f"/v1/events/{event_id}")
        assert answer.status == 404, answer.body


def test_erasing_a_recipient_erases_their_events_and_the_log_holds_no_plaintext(
    account: Account, queues: Queues, aws: dict[str, str]
) -> None:
    rid = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "name": "Ada"}).body["id"]
    recipient = _recipient(account, rid)
    opt_out = {"channel": "sms", "status": "opted_out", "source": "api"}
    opted = account.call(recipients_api, "POST", f"/v1/recipients/{rid}/consents", opt_out)
    assert opted.status == 201, opted.body
    webhooks.publish(
        account.account_id,
        "message.inbound",
        {"from": PHONE, "body": BODY, "recipient_id": rid},
        phone_index=recipient.phone_index,
    )
    other = publish(account, id="msg_someone_else")
    settle()
    listed = listing(account).body["data"]
    assert [e["type"] for e in listed] == ["recipient.opted_out", "message.inbound", "message.status"]
    raw = json.dumps(boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Items"])
    for secret in (PHONE, PHONE[2:], BODY, "usual place"):
        assert secret not in raw

    assert account.call(recipients_api, "DELETE", f"/v1/recipients/{rid}").status == 204
    assert [e["id"] for e in listing(account).body["data"]] == [other]
    for event in listed[:2]:
        assert account.call(events_api, "GET", f"/v1/events/{event['id']}").status == 404


def _principal(account: Account) -> Any:
    from switchboard.auth import Principal  # noqa: PLC0415

    return Principal(account.account_id, "key_test", "developer", "api_key", "", "key_test", account.plan, "live", 0)


def _recipient(account: Account, recipient_id: str) -> Any:
    from switchboard.dal import recipients as recipients_dal  # noqa: PLC0415

    found = recipients_dal.get(account.account_id, recipient_id)
    assert found is not None
    return found
