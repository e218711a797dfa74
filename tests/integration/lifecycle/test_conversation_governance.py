"""Conversations are governed like the rest (issue 14): in the account export, swept by the account's retention,
removed by the purge of a closed account."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from functions.purge_job import handler
from local import provision
from switchboard import catalog, clock, settings
from switchboard.carriers.base import CarrierEvent, Media
from switchboard.logic import inbound
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import World, delete_account, of_account, populate

PHONE = "+14155550777"
DAY = 86400


@pytest.fixture(autouse=True)
def media_queue(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CarrierMedia queue: an inbound message with a file queues its fetch (logic.inbound_media)."""
    spec = catalog.queue("CarrierMedia")
    sqs = boto3.client("sqs")
    urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests([spec])}
    monkeypatch.setenv(spec.env, urls[provision.queue_name(spec)])
    settings.reload()


def sms_sender(world: World) -> str:
    """The account's SMS sender number (assigned at signup)."""
    senders = {s["channel"]: s["number"] for s in call("GET", "/v1/account", token=world.owner).body["senders"]}
    return str(senders["sms"])


def write_in(to: str, body: str, *, phone: str = PHONE) -> None:
    """An inbound SMS with a photo from `phone` to our number `to`, as a verified carrier event is applied."""
    event = CarrierEvent(
        kind="inbound",
        carrier="sandbox-a",
        event_id=f"sbxevt_{time.monotonic_ns()}",
        at=clock.rfc3339(clock.now()),
        channel="sms",
        from_=phone,
        to=to,
        body=body,
        message_type="media",
        media=(Media(kind="image", ref="carrier-media-handle-1", content_type="image/png"),),
    )
    assert inbound.handle(event).startswith("inbound:")


def _messaging(world: World) -> dict[str, dict[str, Any]]:
    return {str(i["sk"]): i for i in of_account(world.account_id)["Messaging"]}


def test_the_export_holds_conversations_and_inbound_messages_opened(identity: dict[str, str]) -> None:
    world = populate("export@conversations.example")
    write_in(sms_sender(world), "Is the shop open on Sunday?")
    answer = call("GET", "/v1/account/export", token=world.owner)
    assert answer.status == 200, answer.body
    records = {r["sk"]: r for r in answer.body["records"]["Messaging"]}
    [inbound_record] = [r for sk, r in records.items() if sk.startswith("INB#")]
    assert (inbound_record["from"], inbound_record["body"], inbound_record["kind"]) == (
        PHONE,
        "Is the shop open on Sunday?",
        "media",
    )
    assert inbound_record["media_refs"].count("carrier-media-handle-1") == 1  # the customer's own record, opened
    [conversation] = [r for sk, r in records.items() if sk.startswith("CONV#")]
    assert conversation["recipient_id"] == inbound_record["recipient_id"]
    assert (conversation["unread_count"], conversation["last_direction"]) == (1, "inbound")
    recipient = records[f"RCP#{conversation['recipient_id']}"]
    assert recipient["phone"] == PHONE
    assert answer.body["unreadable_fields"] == 0


def test_retention_sweeps_conversations_idle_past_it_and_keeps_active_ones(identity: dict[str, str]) -> None:
    world = populate("retention@conversations.example")
    assert call("PATCH", "/v1/account", {"message_retention_days": 30}, token=world.owner).status == 200
    sender = sms_sender(world)
    write_in(sender, "old news")
    clock.advance(20 * DAY)
    write_in(sender, "still here", phone="+14155550778")
    clock.advance(15 * DAY)  # the first conversation is 35 days idle, the second 15

    report = handler.lambda_handler({}, Context())

    assert report["retention"]["conversations_deleted"] == 1
    after = _messaging(world)
    assert len([sk for sk in after if sk.startswith("CONV#")]) == 1
    assert len([sk for sk in after if sk.startswith("INB#")]) == 1  # the old message went with its conversation
    again = handler.lambda_handler({}, Context())
    assert again["retention"]["conversations_deleted"] == 0


def test_the_purge_of_a_closed_account_removes_its_conversations_and_inbound_messages(
    identity: dict[str, str],
) -> None:
    world = populate("purge@conversations.example")
    write_in(sms_sender(world), "hello")
    before = _messaging(world)
    assert [sk for sk in before if sk.startswith("CONV#")] and [sk for sk in before if sk.startswith("INB#")]
    assert delete_account(world.owner).status == 202
    clock.advance(GRACE_S + 1)

    report = handler.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    left = [sk for sk in _messaging(world) if not sk.startswith("OPTOUT#")]
    assert left == [], left
