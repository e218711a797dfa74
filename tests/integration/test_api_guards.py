"""api.handle under moto: rate limits and idempotency on authenticated requests, in that order, before the route."""

import json
import threading
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from switchboard import api, catalog
from switchboard.crypto import envelope
from switchboard.dal import clients
from switchboard.logic import idempotency
from switchboard.models.errors import Conflict
from tests.integration.conftest import Context, rest_event
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.moto_atomic import serialized_moto

# Routes of a test app declare their policy like the catalog's (an undeclared handler is refused).
app = api.build_resolver(
    routes=[
        catalog.Route("POST", "/v1/widgets", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/widgets", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("POST", "/v1/fail", catalog.Auth.ANY, "test route", permission=None),
        catalog.Route("POST", "/v1/reject", catalog.Auth.ANY, "test route", permission=None),
        catalog.Route("POST", "/v1/reentrant", catalog.Auth.ANY, "test route", permission=None),
    ]
)
runs: list[str] = []
inner: list[dict[str, Any]] = []


class WidgetIn(BaseModel):
    name: str


@app.post("/v1/widgets")
def create_widget(widget: WidgetIn) -> Response[str]:
    runs.append(widget.name)
    body = {"id": f"wdg_{len(runs)}", "name": widget.name, "secret": f"sb_test_secret{len(runs)}"}
    return Response(status_code=201, content_type="application/json", body=json.dumps(body))


@app.get("/v1/widgets")
def list_widgets() -> dict[str, list[str]]:
    return {"data": list(runs)}


@app.post("/v1/fail")
def fail() -> None:
    runs.append("fail")
    raise RuntimeError("downstream broke")


@app.post("/v1/reject")
def reject() -> None:
    runs.append("reject")
    raise Conflict("It exists.", code="widget_exists")


@app.post("/v1/reentrant")
def reentrant() -> dict[str, str]:
    runs.append("reentrant")
    # The same request again while the first is still running: what a client's impatient retry would meet.
    inner.append(api.handle(app, app.current_event.raw_event, Context()))  # type: ignore[arg-type]
    return {"ok": "yes"}


AUTH = {
    "account_id": "acct_a",
    "principal": "key_1",
    "role": "developer",
    "credential": "api_key",
    "session_id": "",
    "key_id": "key_1",
    "plan": "free",
    "mode": "test",
    "auth_at": "",
}


def event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    auth: dict[str, str] | None = None,
    public: bool = False,
    request_id: str = "it-request",
) -> dict[str, Any]:
    raw = rest_event(method, path, json.dumps(body) if body is not None else None)
    raw["requestContext"]["requestId"] = request_id
    if body is not None:
        raw["headers"]["Content-Type"] = "application/json"
    if key is not None:
        raw["headers"]["Idempotency-Key"] = key
        raw["multiValueHeaders"]["Idempotency-Key"] = [key]
    if not public:
        context = {**AUTH, **(auth or {})}
        raw["requestContext"]["authorizer"] = {**context, "principalId": context["principal"]}
    return raw


def call(raw: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    result = api.handle(app, raw, Context())  # type: ignore[arg-type]
    headers = {k: v[0] for k, v in result["multiValueHeaders"].items()}
    headers.update(result.get("headers") or {})
    return result["statusCode"], headers, json.loads(result["body"]) if result["body"] else None


@pytest.fixture
def accounts(frozen: FrozenClock) -> FrozenClock:
    runs.clear()
    inner.clear()
    for account_id in ("acct_a", "acct_b"):
        envelope.create_key(account_id)
    return frozen


@pytest.fixture
def calls(accounts: FrozenClock) -> list[str]:
    seen: list[str] = []
    clients.dynamodb().meta.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: seen.append(event_name.rsplit(".", 1)[-1])
    )
    return seen


RATE_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}


def test_handle_adds_ratelimit_headers_to_every_authenticated_response(accounts: FrozenClock) -> None:
    answers = [
        call(event("POST", "/v1/widgets", {"name": "a"})),
        call(event("GET", "/v1/widgets")),
        call(event("GET", "/v1/nothing-here")),
        call(event("POST", "/v1/widgets", {"nom": "a"})),
        call(event("POST", "/v1/reject", {})),
        call(event("POST", "/v1/widgets", {"name": "b"}, key="k1")),
        call(event("POST", "/v1/widgets", {"name": "b"}, key="k1")),
    ]
    assert [code for code, _, _ in answers] == [201, 200, 404, 422, 409, 201, 201]
    for _, headers, _ in answers:
        assert headers.keys() >= RATE_HEADERS
        assert headers["RateLimit-Limit"] == "20"
        assert headers["X-Request-Id"] == "it-request"
    assert [int(h["RateLimit-Remaining"]) for _, h, _ in answers] == [19, 18, 17, 16, 15, 14, 13]


def test_handle_public_requests_get_no_ratelimit_headers(accounts: FrozenClock, calls: list[str]) -> None:
    code, headers, _ = call(event("GET", "/v1/widgets", public=True))
    assert code == 200
    assert not headers.keys() & RATE_HEADERS
    assert calls == []


def test_handle_over_the_limit_is_429_and_nothing_is_processed(accounts: FrozenClock) -> None:
    for i in range(20):
        assert call(event("POST", "/v1/widgets", {"name": str(i)}))[0] == 201
    code, headers, body = call(event("POST", "/v1/widgets", {"name": "one too many"}, key="late"))
    assert code == 429
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "rate_limited"
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit-Remaining"] == "0"
    assert len(runs) == 20
    accounts.advance(1)
    # The refused request left no idempotency record: the same key now simply runs.
    code, headers, _ = call(event("POST", "/v1/widgets", {"name": "one too many"}, key="late"))
    assert code == 201
    assert "Idempotency-Replay" not in headers
    assert runs[-1] == "one too many"


def test_handle_second_account_is_unaffected_by_a_limited_one(accounts: FrozenClock) -> None:
    for _ in range(21):
        call(event("GET", "/v1/widgets"))
    assert call(event("GET", "/v1/widgets"))[0] == 429
    other = {"account_id": "acct_b", "principal": "key_9", "key_id": "key_9"}
    code, headers, _ = call(event("GET", "/v1/widgets", auth=other))
    assert (code, headers["RateLimit-Remaining"]) == (200, "19")


def test_handle_replays_the_first_response_for_the_same_key_and_body(accounts: FrozenClock) -> None:
    first = call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1", request_id="r1"))
    again = call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1", request_id="r2"))
    assert runs == ["w"]
    assert first[0] == again[0] == 201
    assert again[2] == first[2]
    assert again[1]["Idempotency-Replay"] == "true"
    assert "Idempotency-Replay" not in first[1]
    assert again[1]["X-Request-Id"] == "r2"
    assert again[1]["Content-Type"] == "application/json"


def test_handle_same_key_with_another_body_is_422(accounts: FrozenClock) -> None:
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    code, headers, body = call(event("POST", "/v1/widgets", {"name": "other"}, key="order-1"))
    assert (code, body["code"]) == (422, "idempotency_key_reused")
    assert headers["Content-Type"] == "application/problem+json"
    code, _, body = call(event("POST", "/v1/reject", {"name": "w"}, key="order-1"))
    assert (code, body["code"]) == (422, "idempotency_key_reused")
    assert runs == ["w"]


def test_handle_same_key_from_another_principal_is_422(accounts: FrozenClock) -> None:
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    colleague = {"principal": "usr_2", "credential": "session", "key_id": "", "session_id": "ses_1"}
    code, _, body = call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1", auth=colleague))
    assert (code, body["code"]) == (422, "idempotency_key_reused")
    assert "sb_test_secret" not in json.dumps(body)


def test_handle_keys_are_per_account(accounts: FrozenClock) -> None:
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    other = {"account_id": "acct_b", "principal": "key_1", "key_id": "key_1"}
    code, headers, body = call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1", auth=other))
    assert (code, body["id"]) == (201, "wdg_2")
    assert "Idempotency-Replay" not in headers


def test_handle_same_key_still_in_flight_is_409_with_retry_after(accounts: FrozenClock) -> None:
    code, _, _ = call(event("POST", "/v1/reentrant", {}, key="slow-1"))
    assert code == 200
    assert runs == ["reentrant"]
    [nested] = inner
    body = json.loads(nested["body"])
    assert (nested["statusCode"], body["code"]) == (409, "idempotency_in_progress")
    assert nested["multiValueHeaders"]["Retry-After"] == ["1"]
    replay = call(event("POST", "/v1/reentrant", {}, key="slow-1"))
    assert (replay[0], replay[1]["Idempotency-Replay"]) == (200, "true")


def test_handle_server_errors_are_not_stored(accounts: FrozenClock) -> None:
    first = call(event("POST", "/v1/fail", {}, key="retry-me"))
    second = call(event("POST", "/v1/fail", {}, key="retry-me"))
    assert first[0] == second[0] == 500
    assert "Idempotency-Replay" not in second[1]
    assert runs == ["fail", "fail"]


def test_handle_client_errors_are_stored_and_replayed(accounts: FrozenClock) -> None:
    first = call(event("POST", "/v1/reject", {}, key="dup"))
    second = call(event("POST", "/v1/reject", {}, key="dup"))
    assert first[0] == second[0] == 409
    assert second[2] == first[2]
    assert second[2]["code"] == "widget_exists"
    assert second[1]["Idempotency-Replay"] == "true"
    assert runs == ["reject"]


def test_handle_records_expire_after_24_hours(accounts: FrozenClock) -> None:
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    accounts.advance(24 * 3600 - 5)
    assert call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))[1]["Idempotency-Replay"] == "true"
    accounts.advance(10)
    code, headers, body = call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    assert (code, body["id"]) == (201, "wdg_2")
    assert "Idempotency-Replay" not in headers


def test_handle_a_dead_requests_lock_is_taken_over_after_its_timeout(accounts: FrozenClock) -> None:
    fingerprint = idempotency.fingerprint(principal="key_1", method="POST", path="/v1/widgets", body='{"name": "w"}')
    claim = idempotency.begin(account_id="acct_a", key="crashed", request_fingerprint=fingerprint, lock_s=11)
    assert isinstance(claim, idempotency.Claim)
    assert call(event("POST", "/v1/widgets", {"name": "w"}, key="crashed"))[0] == 409
    accounts.advance(12)  # the function that held it would have been killed by now
    code, _, body = call(event("POST", "/v1/widgets", {"name": "w"}, key="crashed"))
    assert (code, body["id"]) == (201, "wdg_1")
    idempotency.finish(
        claim, {"statusCode": 201, "body": "{}"}, checks=[], shows_secret=False
    )  # the dead request's late write is refused
    assert call(event("POST", "/v1/widgets", {"name": "w"}, key="crashed"))[2]["id"] == "wdg_1"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "caf\u00e9", "tab\there"])
def test_handle_invalid_idempotency_key_is_400(accounts: FrozenClock, key: str) -> None:
    code, headers, body = call(event("POST", "/v1/widgets", {"name": "w"}, key=key))
    assert (code, body["code"]) == (400, "invalid_idempotency_key")
    assert headers.keys() >= RATE_HEADERS
    assert runs == []


def test_handle_longest_valid_key_is_accepted(accounts: FrozenClock) -> None:
    key = "~" * 255
    call(event("POST", "/v1/widgets", {"name": "w"}, key=key))
    assert call(event("POST", "/v1/widgets", {"name": "w"}, key=key))[1]["Idempotency-Replay"] == "true"
    assert runs == ["w"]


def test_handle_public_and_non_post_requests_ignore_the_key(accounts: FrozenClock) -> None:
    for _ in range(2):
        code, headers, _ = call(event("POST", "/v1/widgets", {"name": "p"}, key="k", public=True))
        assert code == 201
        assert "Idempotency-Replay" not in headers
    for _ in range(2):
        assert "Idempotency-Replay" not in call(event("GET", "/v1/widgets", key="k"))[1]
    assert runs == ["p", "p"]
    assert call(event("POST", "/v1/widgets", {"name": "p"}, key="bad key", public=True))[0] == 201


def test_handle_stored_response_is_sealed(accounts: FrozenClock, aws: dict[str, str]) -> None:
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    [item] = boto3.client("dynamodb").scan(TableName=aws["IDEMPOTENCY_TABLE"])["Items"]
    assert item["pk"]["S"] == "ACCT#acct_a"
    assert item["sk"]["S"].startswith("IDEM#")
    assert "order-1" not in json.dumps(item)
    assert item["response"]["S"].startswith("sb1.")
    assert "sb_test_secret" not in json.dumps(item)
    assert int(item["expires_at"]["N"]) == int(accounts.now) + 24 * 3600


def test_handle_dynamodb_calls_per_request(accounts: FrozenClock, calls: list[str]) -> None:
    call(event("GET", "/v1/widgets"))  # warm: buckets exist
    calls.clear()
    call(event("GET", "/v1/widgets"))
    assert calls == ["UpdateItem", "UpdateItem"]  # key bucket, account bucket
    calls.clear()
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    assert calls == ["UpdateItem", "UpdateItem", "PutItem", "PutItem"]  # + claim, + stored response
    calls.clear()
    call(event("POST", "/v1/widgets", {"name": "w"}, key="order-1"))
    assert calls == ["UpdateItem", "UpdateItem", "PutItem"]  # the refused claim returns the record
    calls.clear()
    call(event("POST", "/v1/fail", {}, key="f"))
    assert calls == ["UpdateItem", "UpdateItem", "PutItem", "DeleteItem"]  # a 5xx releases its key
    calls.clear()
    session = {"principal": "usr_1", "credential": "session", "key_id": "", "session_id": "ses_1"}
    call(event("GET", "/v1/widgets", auth=session))
    assert calls == ["UpdateItem"]  # sessions have only the account bucket


def test_handle_concurrent_requests_with_one_key_run_once(accounts: FrozenClock) -> None:
    answers: list[tuple[int, dict[str, str], Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def client() -> None:
        try:
            start.wait()
            answers.append(call(event("POST", "/v1/widgets", {"name": "w"}, key="race")))
        except BaseException as error:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(error)

    with serialized_moto():
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert runs == ["w"]
    created = [a for a in answers if a[0] == 201]
    assert all(a[2]["id"] == "wdg_1" for a in created)
    assert len([a for a in created if "Idempotency-Replay" not in a[1]]) == 1
    assert {a[0] for a in answers} <= {201, 409}
