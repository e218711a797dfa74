"""Webhook endpoints, fan-out and the retry schedule (logic.webhooks) on in-memory repositories: no AWS, milliseconds.

The same rules through the handlers, the worker and DynamoDB/SQS (moto) are tests/integration/webhooks/;
tests/integration/webhooks/test_webhook_store_contract.py proves the fake keeps the dal's rules.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from switchboard import clock
from switchboard.auth import Principal
from switchboard.dal import queues
from switchboard.dal.messages import Message
from switchboard.logic import caps, webhooks
from switchboard.models.errors import BadRequest, NotFound
from switchboard.models.request import RequestMeta
from switchboard.models.webhooks import MAX_ATTEMPTS, DeliveryJob, EndpointCreated, EndpointIn, EventType
from switchboard.webhook_client import Answer
from tests.fakes.identity import RecordingAudit, SealedElsewhere
from tests.fakes.webhooks import InMemoryWebhooks, RecordingQueue

A, B = "acct_a", "acct_b"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest")
STATUS = {"id": "msg_1", "status": "delivered", "channel": "sms"}
NOW = 1_800_000_000


def principal(account_id: str) -> Principal:
    """The account's owner, signed in with a session (account, user, role, credential, session, key, plan, mode)."""
    return Principal(account_id, f"usr_{account_id}", "owner", "session", "ses_1", "", "free", "live", 0)


class World:
    """Two accounts' endpoints, what was audited, and the Callbacks queue."""

    def __init__(self) -> None:
        self.store = InMemoryWebhooks()
        self.trail = RecordingAudit()
        self.queue = RecordingQueue()
        self.ports = webhooks.Ports(store=self.store, queue=self.queue, trail=self.trail)

    def create(self, account_id: str, *events: str, n: int = 1) -> EndpointCreated:
        body = EndpointIn(url=f"http://127.0.0.1:9/hook{n}", events=[EventType(e) for e in events])
        return webhooks.create_endpoint(principal(account_id), body, META, ports=self.ports)

    def publish(self, account_id: str, event_type: str, message: dict[str, str] | None = None) -> int:
        """Publish; `message`: the fields of the message the event is about (its callback_url, if any)."""
        about = None if message is None else Message(account_id=account_id, status="sent", created_at="", **message)
        return webhooks.publish(account_id, event_type, STATUS, message=about, ports=self.ports)

    def jobs(self) -> list[DeliveryJob]:
        assert {queue for queue, _ in self.queue.sent} <= {queues.CALLBACKS}
        return [DeliveryJob.model_validate_json(body) for _, body in self.queue.sent]

    def finish(self, job: DeliveryJob, attempt: int, answer: Answer, outcome: str) -> str:
        item = webhooks.Queued(job, attempt, f"rcpt_{attempt}")
        return webhooks.finish(item, answer, outcome, NOW, ports=self.ports)


@pytest.fixture
def world() -> World:
    return World()


# --- Endpoints ------------------------------------------------------------------------------------------------


def test_a_created_endpoint_shows_its_secret_once_and_signs_with_it(world: World) -> None:
    created = world.create(A, "message.status", "message.inbound")
    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    assert created.events == ["message.inbound", "message.status"]
    stored = world.store.get_endpoint(A, created.id)
    assert stored is not None
    assert world.store.endpoint_secret(stored) == created.secret
    assert stored.created_by == f"usr_{A}"
    listed = webhooks.list_endpoints(principal(A), ports=world.ports)
    assert [e.id for e in listed.data] == [created.id]
    assert "secret" not in listed.data[0].model_dump()
    [event] = world.trail.events
    assert (event.type, event.outcome, event.target) == (
        "webhook_endpoint.created",
        "success",
        {"endpoint_id": created.id},
    )


def test_endpoints_list_oldest_first_and_page(world: World) -> None:
    ids = []
    for n in range(3):
        clock.advance(1)  # endpoint ids sort by creation time
        ids.append(world.create(A, "message.status", n=n).id)
    first = webhooks.list_endpoints(principal(A), limit=2, ports=world.ports)
    assert [e.id for e in first.data] == ids[:2]
    assert first.next_cursor is not None
    rest = webhooks.list_endpoints(principal(A), limit=2, cursor=first.next_cursor, ports=world.ports)
    assert [e.id for e in rest.data] == ids[2:]
    assert rest.next_cursor is None


def test_the_endpoint_cap_is_a_422_and_a_delete_frees_a_place(world: World) -> None:
    cap = caps.LIMITS[caps.WEBHOOK_ENDPOINTS]
    made = [world.create(A, "message.status", n=n).id for n in range(cap)]
    with pytest.raises(caps.LimitExceeded):
        world.create(A, "message.status", n=cap)
    assert world.create(B, "message.status").id  # another account's cap is its own
    webhooks.delete_endpoint(principal(A), made[0], META, ports=world.ports)
    assert world.store.get_endpoint(A, made[0]) is None
    world.create(A, "message.status", n=cap)
    assert world.trail.events[-2].type == "webhook_endpoint.deleted"


def test_accounts_never_see_or_delete_each_others_endpoints(world: World) -> None:
    theirs = world.create(B, "message.status").id
    assert webhooks.list_endpoints(principal(A), ports=world.ports).data == []
    with pytest.raises(NotFound):
        webhooks.delete_endpoint(principal(A), theirs, META, ports=world.ports)
    with pytest.raises(NotFound):
        webhooks.list_deliveries(principal(A), theirs, ports=world.ports)
    assert world.store.get_endpoint(B, theirs) is not None
    assert [e.type for e in world.trail.events] == ["webhook_endpoint.created"]


# --- Fan-out --------------------------------------------------------------------------------------------------


def test_an_event_goes_to_the_accounts_subscribed_endpoints_only(world: World) -> None:
    status_1 = world.create(A, "message.status", n=1).id
    both = world.create(A, "message.status", "message.inbound", n=2).id
    world.create(A, "message.inbound", n=3)
    world.create(B, "message.status", n=4)

    assert world.publish(A, "message.status") == 2
    jobs = world.jobs()
    assert sorted(job.endpoint_id or "" for job in jobs) == sorted([status_1, both])
    assert {job.account_id for job in jobs} == {A}
    assert len({job.event_id for job in jobs}) == 1  # one event, one delivery per endpoint
    for job in jobs:
        event = json.loads(webhooks.open_event(job, ports=world.ports))
        assert (event["id"], event["type"], event["data"]) == (job.event_id, "message.status", STATUS)


def test_no_subscriber_queues_nothing_and_a_messages_callback_gets_the_event_too(world: World) -> None:
    world.create(A, "message.inbound")
    assert world.publish(A, "message.status") == 0
    assert world.queue.sent == []

    assert world.publish(A, "message.status", message={"message_id": "msg_1", "callback_url": "https://x.test/cb"}) == 1
    [job] = world.jobs()
    assert (job.message_id, job.endpoint_id) == ("msg_1", None)
    assert world.publish(A, "message.status", message={"message_id": "msg_2"}) == 0  # no callback_url


def test_an_event_sealed_for_one_account_does_not_open_for_another(world: World) -> None:
    world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    with pytest.raises(SealedElsewhere):
        webhooks.open_event(job.model_copy(update={"account_id": B}), ports=world.ports)


# --- Delivery -------------------------------------------------------------------------------------------------


def test_a_job_is_posted_to_its_endpoint_signed_with_its_secret(world: World) -> None:
    created = world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    prepared = webhooks.prepare(job, attempt=1, now=NOW, ports=world.ports)
    assert prepared is not None
    url, body, headers = prepared
    assert url == "http://127.0.0.1:9/hook1"
    assert json.loads(body)["id"] == job.event_id
    assert headers[webhooks.EVENT_ID_HEADER] == job.event_id
    assert webhooks.verify_signature(created.secret, headers[webhooks.SIGNATURE_HEADER], body, NOW)
    assert not webhooks.verify_signature("whsec_other", headers[webhooks.SIGNATURE_HEADER], body, NOW)


def test_a_job_of_a_deleted_endpoint_is_dropped(world: World) -> None:
    created = world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    webhooks.delete_endpoint(principal(A), created.id, META, ports=world.ports)
    assert webhooks.prepare(job, attempt=1, now=NOW, ports=world.ports) is None


def test_a_failed_attempt_is_hidden_for_its_backoff_and_logged_with_its_next_retry(world: World) -> None:
    created = world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    for attempt in (1, 2, 5, 9):
        assert world.finish(job, attempt, Answer(500, None, 12), "failed") == "failed"
    assert [receipt for _, receipt, _ in world.queue.hidden] == ["rcpt_1", "rcpt_2", "rcpt_5", "rcpt_9"]
    for (queue, _, delay), nominal in zip(world.queue.hidden, (30, 60, 480, 3600), strict=True):
        assert queue == queues.CALLBACKS
        assert nominal * (1 - webhooks.JITTER) - 1 <= delay <= nominal * (1 + webhooks.JITTER) + 1
    log = webhooks.list_deliveries(principal(A), created.id, ports=world.ports).data
    assert [d.attempt for d in log] == [9, 5, 2, 1]  # newest first
    assert [d.next_retry_at for d in log] == [
        clock.rfc3339_at(NOW + delay) for _, _, delay in reversed(world.queue.hidden)
    ]
    assert {(d.outcome, d.status_code, d.duration_ms) for d in log} == {("failed", 500, 12)}


def test_the_last_attempt_gives_up_to_the_dlq_and_a_delivery_is_not_retried(world: World) -> None:
    created = world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    assert world.finish(job, MAX_ATTEMPTS, Answer(None, "timeout", 5000), "failed") == "failed"
    assert world.finish(job, 3, Answer(204, None, 8), "delivered") == "delivered"
    assert world.queue.hidden == []  # the last receive goes to the DLQ on its own; a delivered job is deleted
    log = webhooks.list_deliveries(principal(A), created.id, ports=world.ports).data
    assert [(d.attempt, d.outcome, d.error, d.next_retry_at) for d in log] == [
        (3, "delivered", None, None),
        (MAX_ATTEMPTS, "failed", "timeout", None),
    ]


def test_a_messages_callback_attempts_are_its_own_log(world: World) -> None:
    world.publish(A, "message.status", message={"message_id": "msg_1", "callback_url": "https://x.test/cb"})
    [job] = world.jobs()
    world.finish(job, 1, Answer(502, None, 3), "failed")
    [entry] = webhooks.message_callbacks(A, "msg_1", ports=world.ports)
    assert (entry.event_id, entry.attempt, entry.status_code) == (job.event_id, 1, 502)
    assert webhooks.message_callbacks(B, "msg_1", ports=world.ports) == []


def test_the_log_is_bounded_like_every_list(world: World) -> None:
    created = world.create(A, "message.status")
    world.publish(A, "message.status")
    [job] = world.jobs()
    for attempt in range(1, 4):
        world.finish(job, attempt, Answer(500, None, 1), "failed")
    page = webhooks.list_deliveries(principal(A), created.id, limit=2, ports=world.ports)
    assert [d.attempt for d in page.data] == [3, 2]
    assert page.next_cursor is not None
    rest = webhooks.list_deliveries(principal(A), created.id, limit=2, cursor=page.next_cursor, ports=world.ports)
    assert [d.attempt for d in rest.data] == [1]
    other = dataclasses.replace(world.store.list_endpoints(A)[0], endpoint_id="whe_other")
    world.store.endpoints[(A, "whe_other")] = other
    with pytest.raises(BadRequest) as refused:  # another endpoint's cursor
        webhooks.list_deliveries(principal(A), "whe_other", limit=2, cursor=page.next_cursor, ports=world.ports)
    assert refused.value.instance_code == "invalid_cursor"
