"""Race: one `Idempotency-Key` sent by 10 threads at once creates exactly one object, on every kind of create route.

Real threads call the deployed handlers (authorizer, then the route's function) under moto, whose DynamoDB applies
each request atomically as the service does. The objects are counted in the raw table (the items one sequential
create adds, against the items the 10 racing requests add). Every answer is the one original 2xx, its replay, or
a 409 problem (`idempotency_in_progress` with `Retry-After`, or `idempotency_secret_shown` naming the same id);
never a 5xx and never a second object.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from switchboard import clock
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import PASSWORD, Answer
from tests.integration.moto_atomic import serialized_moto

THREADS = 10
HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}


@dataclass(frozen=True)
class Route:
    """A create route, the table its objects live in, and a body (given a unique number)."""

    path: str
    table: str
    body: Callable[[int, dict[str, str]], Any]
    credential: str = "api_key"


ROUTES = {
    "recipient": Route("/v1/recipients", "test-Messaging", lambda n, ids: {"phone": f"+1415555{n:04d}"}),
    "list": Route("/v1/lists", "test-Messaging", lambda n, ids: {"name": f"list-{n}"}),
    "message": Route(
        "/v1/messages",
        "test-Messaging",
        lambda n, ids: {"recipient_id": ids["recipient_id"], "channel": "sms", "body": f"Hi {n}"},
    ),
    "webhook endpoint": Route(
        "/v1/webhook-endpoints", "test-Accounts", lambda n, ids: {**HOOK, "url": f"{HOOK['url']}{n}"}
    ),
    "api key": Route(
        "/v1/api-keys", "test-Accounts", lambda n, ids: {"name": f"key-{n}", "role": "viewer"}, credential="session"
    ),
}


def _items(table: str) -> int:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def _account() -> dict[str, str]:
    register("racer@example.com", "Race Co")
    session = login("racer@example.com")
    key = call("POST", "/v1/api-keys", {"name": "racer", "role": "owner"}, token=session)
    assert key.status == 201, key.body
    recipient = call("POST", "/v1/recipients", {"phone": "+14155550100"}, token=session)
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call("POST", f"/v1/recipients/{recipient.body['id']}/consents", consent, token=session).status == 201
    return {"session": session, "api_key": key.body["key"], "recipient_id": recipient.body["id"]}


def _race(path: str, raw: str, token: str, key: str) -> list[Answer]:
    answers: list[Answer] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def client() -> None:
        try:
            start.wait()
            answers.append(call("POST", path, raw=raw, token=token, headers={"Idempotency-Key": key}))
        except BaseException as error:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(error)

    with serialized_moto():
        threads = [threading.Thread(target=client) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    return answers


@pytest.mark.parametrize("name", list(ROUTES))
@pytest.mark.usefixtures("identity", "queues")
def test_one_idempotency_key_in_10_parallel_requests_creates_one_object(name: str) -> None:
    route = ROUTES[name]
    ids = _account()
    token = ids[route.credential]
    # What one create adds to its table (the object and whatever it indexes), measured on a sequential create.
    before = _items(route.table)
    single = call("POST", route.path, route.body(1, ids), token=token, headers={"Idempotency-Key": "calibrate"})
    assert 200 <= single.status < 300, single.body
    per_create = _items(route.table) - before
    assert per_create >= 1
    clock.advance(2)  # a full token bucket for the race
    if route.credential == "session":
        assert call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=token).status == 200

    before = _items(route.table)
    answers = _race(route.path, json.dumps(route.body(2, ids)), token, "race-key")
    assert _items(route.table) - before == per_create, "the racing requests created more than one object"

    statuses = sorted(a.status for a in answers)
    assert len(answers) == THREADS and all(s < 500 for s in statuses), statuses
    originals = [a for a in answers if 200 <= a.status < 300 and "Idempotency-Replay" not in a.headers]
    assert len(originals) == 1, statuses
    created = originals[0].body["id"]
    for answer in answers:
        if answer is originals[0]:
            continue
        code = (answer.body or {}).get("code")
        if answer.status == 409 and code == "idempotency_in_progress":
            assert answer.headers["Retry-After"] == "1"
        elif answer.status == 409 and code == "idempotency_secret_shown":
            assert answer.body["id"] == created
        else:
            assert answer.headers.get("Idempotency-Replay") == "true", (answer.status, answer.body)
            assert answer.body == originals[0].body
    # A retry after the race sees the settled record: the same object, still one.
    later = call("POST", route.path, route.body(2, ids), token=token, headers={"Idempotency-Key": "race-key"})
    assert later.status in {originals[0].status, 409}
    assert (later.body or {}).get("id") == created
    assert _items(route.table) - before == per_create
