"""Rotating a webhook endpoint's signing secret (R42): both secrets sign for 24 h, then only the new one."""

import base64
import json

import boto3

from functions.callback_worker import handler as worker
from local.workers import sqs_event
from switchboard import clock
from switchboard.dal import webhooks as webhooks_dal
from switchboard.logic import audit, webhooks
from tests.integration.conftest import Context
from tests.integration.webhooks.conftest import Callbacks, Listener, Received, add_endpoint
from tests.integration.webhooks.test_endpoints_api import call

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
STATUS = {"message_id": "msg_1", "status": "delivered"}
DAY = 86400


def _deliver(callbacks: Callbacks, listener: Listener) -> Received:
    """Publish one event, let the worker deliver it, and return what the endpoint received."""
    before = len(listener.received)
    assert webhooks.publish("acct_a", "message.status", STATUS) == 1
    messages = callbacks.receive()
    assert worker.lambda_handler(sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()) == {
        "batchItemFailures": []
    }
    assert len(listener.received) == before + 1
    return listener.received[-1]


def _verifies(secret: str, request: Received) -> tuple[bool, bool]:
    """Whether `secret` verifies the delivery: (Switchboard-Signature, Standard Webhooks headers)."""
    now = clock.timestamp()
    return (
        webhooks.verify_signature(secret, request.headers["switchboard-signature"], request.body, now),
        webhooks.verify_standard(secret, request.headers, request.body, now),
    )


def test_deliveries_carry_both_signatures_for_24_hours_then_only_the_new_one(
    callbacks: Callbacks, listener: Listener, aws: dict[str, str]
) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=OLD)
    assert _verifies(OLD, _deliver(callbacks, listener)) == (True, True)

    before = int(clock.timestamp())
    status, rotated = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret")
    after_call = int(clock.timestamp())
    assert status == 200, rotated
    new = rotated["secret"]
    assert new != OLD and len(base64.b64decode(new.removeprefix("whsec_"), validate=True)) == 32
    assert rotated["secret_version"] == 2
    [previous] = rotated["previous_secrets"]
    assert previous["secret_version"] == 1
    # A day after the rotation, whichever second the clock showed while it ran (the wall clock may tick meanwhile).
    assert previous["expires_at"] in {clock.rfc3339_at(t + DAY) for t in range(before, after_call + 1)}
    raw = json.dumps(boto3.client("dynamodb").scan(TableName=aws["ACCOUNTS_TABLE"])["Items"])
    assert new not in raw and OLD not in raw and new[6:] not in raw  # both stay sealed

    during = _deliver(callbacks, listener)
    assert _verifies(OLD, during) == (True, True)
    assert _verifies(new, during) == (True, True)
    assert _verifies("whsec_" + base64.b64encode(b"x" * 32).decode(), during) == (False, False)
    assert len(during.headers["webhook-signature"].split()) == 2
    assert during.headers["webhook-id"] == json.loads(during.body)["id"]

    clock.advance(DAY - 60)
    assert _verifies(OLD, _deliver(callbacks, listener)) == (True, True)  # the overlap still lasts
    clock.advance(61)
    after = _deliver(callbacks, listener)
    assert _verifies(OLD, after) == (False, False)
    assert _verifies(new, after) == (True, True)
    assert len(after.headers["webhook-signature"].split()) == 1
    status, listed = call("GET", "/v1/webhook-endpoints")
    assert listed["data"][0]["secret_version"] == 2 and listed["data"][0]["previous_secrets_expire_at"] is None


def test_rotating_twice_quickly_keeps_both_replaced_secrets_then_refuses_a_third(
    callbacks: Callbacks, listener: Listener
) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=OLD)
    _, first = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret")
    clock.advance(5)
    before = int(clock.timestamp())
    _, second = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", {"grace_s": 3600})
    after_call = int(clock.timestamp())
    assert second["secret_version"] == 3
    # The second grace is shorter: each older secret's end only ever moves closer, never later; both end together,
    # an hour after whichever second the wall clock showed while the rotation ran.
    ends = {p["secret_version"]: p["expires_at"] for p in second["previous_secrets"]}
    assert set(ends) == {1, 2} and ends[1] == ends[2]
    assert ends[2] in {clock.rfc3339_at(t + 3600) for t in range(before, after_call + 1)}
    request = _deliver(callbacks, listener)
    for secret in (OLD, first["secret"], second["secret"]):
        assert _verifies(secret, request) == (True, True)
    assert len(request.headers["webhook-signature"].split()) == 3

    status, refused = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret")
    assert status == 409 and refused["code"] == "rotation_overlap_full"
    status, leaked = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", {"grace_s": 0})
    assert status == 200 and leaked["previous_secrets"] == [] and leaked["secret_version"] == 4
    only = _deliver(callbacks, listener)
    assert [s for s in (OLD, first["secret"], second["secret"], leaked["secret"]) if any(_verifies(s, only))] == [
        leaked["secret"]
    ]


def test_rotation_is_the_endpoint_owners_only_and_audited(callbacks: Callbacks, listener: Listener) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=OLD)
    status, problem = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", account_id="acct_b")
    assert status == 404, problem
    status, problem = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", role="viewer")
    assert status == 403, problem
    status, problem = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", {"grace_s": DAY + 1})
    assert status == 422, problem
    status, problem = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret", {"grace": 10})
    assert status == 422, problem
    assert _verifies(OLD, _deliver(callbacks, listener)) == (True, True)  # none of those rotated anything
    status, rotated = call("POST", "/v1/webhook-endpoints/whe_1/rotate-secret")
    assert status == 200
    [event] = [e for e in audit.list_events("acct_a").data if e.type == "webhook_endpoint.secret_rotated"]
    assert (event.actor, event.target, event.outcome) == ("usr_1", {"endpoint_id": "whe_1"}, "success")
    assert event.data["secret_version"] == 2 and event.data["grace_s"] == DAY
    assert rotated["secret"] not in json.dumps(event.model_dump())  # never the secret


def test_a_rotation_that_lost_a_race_is_refused_by_the_store(callbacks: Callbacks, listener: Listener) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=OLD)
    read = webhooks_dal.get_endpoint("acct_a", "whe_1")
    assert read is not None
    won = webhooks_dal.rotate_secret(read, secret="whsec_" + base64.b64encode(b"a" * 32).decode(), previous=())
    assert won is not None and won.secret_version == 2
    racer = "whsec_" + base64.b64encode(b"b" * 32).decode()
    assert webhooks_dal.rotate_secret(read, secret=racer, previous=()) is None  # pragma: allowlist secret
    stored = webhooks_dal.get_endpoint("acct_a", "whe_1")
    assert (
        stored is not None and webhooks_dal.endpoint_secret(stored) == "whsec_" + base64.b64encode(b"a" * 32).decode()
    )
