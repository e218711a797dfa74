"""ops_status_api under moto: operators open, update, resolve and list incidents; every action is an audit event of
the platform trail with the operator as actor; unknown incidents are 404, a resolved one takes nothing more (409)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from functions.ops_status_api import handler
from functions.public_api import handler as public_api
from switchboard.logic import audit
from switchboard.logic.incidents import PLATFORM_TRAIL
from tests.integration.conftest import rest_event
from tests.integration.moto_atomic import serialized_moto
from tests.lambda_context import Context

SECURITY = "arn:aws:sts::123456789012:assumed-role/switchboard-local-operator-security/alice"
SUPPORT = "arn:aws:sts::123456789012:assumed-role/switchboard-local-operator-support/carol"
OPENED = {"title": "SMS delays in the US", "components": ["sms", "sms"], "impact": "major", "body": "Looking."}


def call(method: str, path: str, body: Any = None, *, arn: str = SECURITY, resource: str | None = None) -> Any:
    event = rest_event(method, path, json.dumps(body) if body is not None else None)
    event["resource"] = event["requestContext"]["resourcePath"] = resource or path
    if resource and "{incident_id}" in resource:
        event["pathParameters"] = {"incident_id": path.split("/")[4]}
    event["requestContext"]["identity"]["userArn"] = arn
    if body is not None:
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    result = handler.lambda_handler(event, Context())
    return result["statusCode"], json.loads(result["body"]) if result["body"] else None


def act(incident_id: str, action: str, body: Any, arn: str = SECURITY) -> Any:
    path = f"/ops/v1/incidents/{incident_id}/{action}"
    return call("POST", path, body, arn=arn, resource=f"/ops/v1/incidents/{{incident_id}}/{action}")


def platform_events() -> list[Any]:
    return list(audit.list_events(PLATFORM_TRAIL, limit=100).data)


def test_open_update_resolve_and_list_are_audited_in_the_platform_trail(aws: dict[str, str]) -> None:
    code, opened = call("POST", "/ops/v1/incidents", OPENED)
    assert code == 201, opened
    assert opened["components"] == ["sms"]  # named twice, affected once
    incident_id = opened["id"]
    status = json.loads(public_api.lambda_handler(rest_event("GET", "/status"), Context())["body"])
    assert [i["id"] for i in status["incidents"]] == [incident_id]

    code, updated = act(incident_id, "updates", {"status": "identified", "body": "A carrier drops sends."})
    assert code == 200, updated
    assert [u["status"] for u in updated["updates"]] == ["identified", "investigating"]
    code, resolved = act(incident_id, "resolve", {"body": "Fixed."})
    assert (code, resolved["status"]) == (200, "resolved")
    code, listed = call("GET", "/ops/v1/incidents", arn=SUPPORT)  # support reads incidents
    assert code == 200
    assert [i["id"] for i in listed["data"]] == [incident_id]

    events = platform_events()
    assert sorted(e.type for e in events) == ["incident.opened", "incident.resolved", "incident.updated"]
    assert {e.actor for e in events} == {"operator:alice"}
    assert {e.target["incident_id"] for e in events} == {incident_id}
    assert {e.account_id for e in events} == {PLATFORM_TRAIL}
    assert audit.verify(PLATFORM_TRAIL).valid
    # The anchor job anchors the platform trail like an account's (R55).
    assert audit.anchor_account(PLATFORM_TRAIL).anchored_seq == len(events)
    assert audit.verify(PLATFORM_TRAIL).valid


def test_a_resolved_incident_takes_no_update_and_unknown_ones_are_404(aws: dict[str, str]) -> None:
    _, opened = call("POST", "/ops/v1/incidents", OPENED)
    assert act(opened["id"], "resolve", {"body": "Fixed."})[0] == 200
    code, problem = act(opened["id"], "resolve", {"body": "Again."})
    assert (code, problem["code"]) == (409, "incident_resolved")
    code, problem = act(opened["id"], "updates", {"status": "monitoring", "body": "Still?"})
    assert (code, problem["code"]) == (409, "incident_resolved")
    for unknown in ("inc_00000000000000000000000000", "acc_x", "x" * 2000):
        assert act(unknown, "updates", {"status": "identified", "body": "x"})[0] == 404
        assert act(unknown, "resolve", {"body": "x"})[0] == 404
    assert len(platform_events()) == 2  # the open and the one resolve: refusals change nothing


def test_two_concurrent_resolves_make_one_success_and_one_conflict(aws: dict[str, str]) -> None:
    _, opened = call("POST", "/ops/v1/incidents", OPENED)
    codes: list[int] = []
    barrier = threading.Barrier(2)

    def resolve() -> None:
        barrier.wait()
        codes.append(act(opened["id"], "resolve", {"body": "Fixed."})[0])

    threads = [threading.Thread(target=resolve) for _ in range(2)]
    # DynamoDB applies a condition and its write as one step; moto, across threads, only under this lock.
    with serialized_moto():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(codes) == [200, 409]
    _, listed = call("GET", "/ops/v1/incidents")
    assert [u["status"] for u in listed["data"][0]["updates"]].count("resolved") == 1


@pytest.mark.parametrize(
    "body",
    [
        {**OPENED, "components": ["database"]},
        {**OPENED, "components": []},
        {**OPENED, "title": "ab"},
        {**OPENED, "title": "t" * 201},
        {**OPENED, "body": ""},
        {**OPENED, "body": "b" * 5001},
        {**OPENED, "impact": "catastrophic"},
        {**OPENED, "status": "resolved"},
        {**OPENED, "extra": 1},
    ],
)
def test_invalid_incidents_are_422_and_open_nothing(aws: dict[str, str], body: dict[str, Any]) -> None:
    code, problem = call("POST", "/ops/v1/incidents", body)
    assert (code, problem["code"]) == (422, "validation_failed")
    assert call("GET", "/ops/v1/incidents")[1]["data"] == []
    assert platform_events() == []


def test_support_may_not_manage_incidents(aws: dict[str, str]) -> None:
    code, problem = call("POST", "/ops/v1/incidents", OPENED, arn=SUPPORT)
    assert (code, problem["code"]) == (403, "forbidden")
    assert call("GET", "/ops/v1/incidents")[1]["data"] == []
