"""The local stack over HTTP: public routes, the gateway's own errors, the OpenAPI document and the /_local routes."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from switchboard import catalog
from switchboard.headers import SECURITY_HEADERS
from tests.e2e.conftest import ROOT, LocalStack

pytestmark = pytest.mark.e2e


def platform_now(stack: LocalStack) -> datetime:
    answer = stack.request("POST", "/_local/clock", {"advance_s": 0})
    assert answer.status == 200
    return datetime.fromisoformat(answer.json()["now"])


def assert_problem(answer: object, status: int, code: str) -> dict[str, object]:
    from tests.e2e.conftest import Answer  # noqa: PLC0415

    assert isinstance(answer, Answer)
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["request_id"] == answer.headers["X-Request-Id"]
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value
    return dict(body)


def test_health_answers_ok_with_request_id_and_security_headers(stack: LocalStack) -> None:
    answer = stack.request("GET", "/v1/health")
    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    assert len(answer.headers["X-Request-Id"]) == 36
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value


def test_each_request_gets_its_own_request_id(stack: LocalStack) -> None:
    ids = {stack.request("GET", "/v1/health").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


def test_status_reads_the_provisioned_platform_table(stack: LocalStack) -> None:
    answer = stack.request("GET", "/status")
    assert answer.status == 200
    body = answer.json()
    assert body["status"] == "operational"
    assert {c["name"] for c in body["components"]} == {"api", "sms", "whatsapp", "voice", "webhooks"}
    assert body["incidents"] == []


def test_security_txt_has_the_rfc_9116_fields_and_expires_within_a_year(stack: LocalStack) -> None:
    answer = stack.request("GET", "/.well-known/security.txt")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    fields = dict(line.split(": ", 1) for line in answer.text.splitlines() if line)
    assert {"Contact", "Expires", "Policy", "Preferred-Languages"} <= set(fields)
    assert fields["Canonical"] == f"{stack.base_url}/.well-known/security.txt"
    expires = datetime.fromisoformat(fields["Expires"])
    now = platform_now(stack)
    assert now < expires < now + timedelta(days=365)


def test_unknown_route_is_the_gateway_404_problem(stack: LocalStack) -> None:
    body = assert_problem(stack.request("GET", "/v1/nothing-here"), 404, "not_found")
    assert body["type"] == "https://docs.switchboard.example/problems/not_found"


def test_unknown_method_on_a_known_path_is_the_gateway_405_problem_with_allow(stack: LocalStack) -> None:
    # R40: the path exists, the method does not (the deployed API's ANY catch-all answers the same).
    for method, path in (("DELETE", "/v1/health"), ("POST", "/status")):
        answer = stack.request(method, path, {"x": 1} if method == "POST" else None)
        assert_problem(answer, 405, "method_not_allowed")
        allowed = answer.headers["Allow"].split(", ")
        assert "GET" in allowed and method not in allowed
    assert_problem(stack.request("GET", "/v1/no-such-path"), 404, "not_found")


def test_body_over_the_handler_limit_is_413_problem(stack: LocalStack) -> None:
    # The gateway passes it on (API Gateway allows 10 MB); the handler refuses anything over 64 KiB.
    answer = stack.request("GET", "/v1/health", raw=b'{"pad": "' + b"x" * 70_000 + b'"}')
    assert_problem(answer, 413, "payload_too_large")


def test_openapi_document_is_served_and_equals_the_committed_one(stack: LocalStack) -> None:
    answer = stack.request("GET", "/openapi.json")
    assert answer.status == 200
    served = answer.json()
    assert served == json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert served["openapi"].startswith("3.1")
    for route, _ in catalog.json_routes():
        assert route.method.lower() in served["paths"][route.path]
    # The console's HTML pages are deployed but not part of the JSON API's document (docs/console.md).
    assert not any(catalog.in_console(path) for path in served["paths"])


def test_docs_page_loads_swagger_ui_over_the_openapi_document(stack: LocalStack) -> None:
    answer = stack.request("GET", "/docs")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "swagger-ui-bundle.js" in answer.text
    assert 'url: "/openapi.json"' in answer.text


def test_carrier_state_change_persists_and_bad_input_is_refused(stack: LocalStack) -> None:
    states = {c["carrier"]: c["state"] for c in stack.request("GET", "/_local/carriers").json()["data"]}
    assert states == {"sandbox-a": "up", "sandbox-b": "up"}
    answer = stack.request("PUT", "/_local/carriers/sandbox-b", {"state": "down"})
    assert (answer.status, answer.json()) == (200, {"carrier": "sandbox-b", "state": "down", "receipts": True})
    states = {c["carrier"]: c["state"] for c in stack.request("GET", "/_local/carriers").json()["data"]}
    assert states == {"sandbox-a": "up", "sandbox-b": "down"}

    bad = assert_problem(
        stack.request("PUT", "/_local/carriers/sandbox-b", {"state": "sideways"}), 422, "validation_failed"
    )
    assert bad["errors"] == [{"pointer": "/state", "message": "Must be one of: up, down, slow."}]
    # A carrier that accepts but never calls back (the receipts job reconciles its messages), and back.
    for receipts in (False, True):
        answer = stack.request("PUT", "/_local/carriers/sandbox-b", {"receipts": receipts})
        assert answer.json() == {"carrier": "sandbox-b", "state": "down", "receipts": receipts}
    bad = assert_problem(
        stack.request("PUT", "/_local/carriers/sandbox-b", {"receipts": "no"}), 422, "validation_failed"
    )
    assert bad["errors"] == [{"pointer": "/receipts", "message": "Must be true or false."}]
    assert_problem(stack.request("PUT", "/_local/carriers/carrier-x", {"state": "down"}), 404, "not_found")
    assert_problem(stack.request("PUT", "/_local/carriers/sandbox-a", raw=b"{not json"), 400, "invalid_json")
    assert stack.request("PUT", "/_local/carriers/sandbox-b", {"state": "up"}).status == 200


def test_clock_advances_and_refuses_to_go_back(stack: LocalStack) -> None:
    before = platform_now(stack)
    answer = stack.request("POST", "/_local/clock", {"advance_s": 86400})
    assert answer.status == 200
    assert datetime.fromisoformat(answer.json()["now"]) - before >= timedelta(days=1)
    bad = assert_problem(stack.request("POST", "/_local/clock", {"advance_s": -5}), 422, "validation_failed")
    assert bad["errors"][0]["pointer"] == "/advance_s"  # type: ignore[index]
    assert_problem(stack.request("POST", "/_local/clock", {"advance_s": "soon"}), 422, "validation_failed")
    assert_problem(stack.request("POST", "/_local/clock", {}), 422, "validation_failed")


def test_purge_job_runs_now_and_reports_on_the_platform_clock(stack: LocalStack) -> None:
    advanced = datetime.fromisoformat(stack.request("POST", "/_local/clock", {"advance_s": 7200}).json()["now"])
    answer = stack.request("POST", "/_local/jobs/purge")
    assert answer.status == 200
    report = answer.json()
    assert report["job"] == "purge"
    assert datetime.fromisoformat(report["ran_at"]) >= advanced
    # Audit is append-only; the KEK table is swept by key at a purge (envelope.shred) and its log by TTL.
    assert set(report["deleted"]) == {t.env for t in catalog.TABLES if t.id != "Audit" and t.restorable}
    # Other e2e modules share this stack and leave expired sessions and tokens behind: count, don't assume none.
    assert report["total"] == sum(report["deleted"].values())
    assert stack.request("POST", "/_local/jobs/purge").json()["total"] == 0  # nothing expired is left over
    assert_problem(stack.request("POST", "/_local/jobs/nope"), 404, "not_found")


def test_scheduler_runs_the_hourly_purge_once_the_clock_makes_it_due(stack: LocalStack) -> None:
    runs_before = stack.log().count("job purge ran on schedule")
    stack.request("POST", "/_local/clock", {"advance_s": 3601})
    deadline = time.monotonic() + 10
    while stack.log().count("job purge ran on schedule") == runs_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.log().count("job purge ran on schedule") == runs_before + 1


def test_outbox_and_deliveries_have_the_documented_shape(stack: LocalStack) -> None:
    for path in ("/_local/outbox", "/_local/deliveries"):
        answer = stack.request("GET", path)
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert isinstance(answer.json()["data"], list)


def test_inbound_is_dispatched_to_the_carrier_events_route(stack: LocalStack) -> None:
    # carrier_events verifies the sandbox signature and answers; a number no account owns is simply not routed.
    answer = stack.request(
        "POST", "/_local/carriers/sandbox-a/inbound", {"from": "+15550001", "to": "+15550002", "body": "STOP"}
    )
    assert (answer.status, answer.json()) == (200, {"received": 1})
    assert_problem(
        stack.request("POST", "/_local/carriers/nope/inbound", {"from": "a", "to": "b", "body": ""}), 404, "not_found"
    )
    bad = stack.request("POST", "/_local/carriers/sandbox-a/inbound", {"to": "+15550002", "body": "hi"})
    assert assert_problem(bad, 422, "validation_failed")["errors"] == [
        {"pointer": "/from", "message": "Required: a non-empty string."}
    ]


def test_request_log_has_one_line_per_request_without_query_or_body(stack: LocalStack) -> None:
    stack.request("GET", "/v1/health?token=very-secret-value")
    time.sleep(0.2)
    log = stack.log()
    assert "GET /v1/health 200" in log
    assert "very-secret-value" not in log
