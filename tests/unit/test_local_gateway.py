"""The local gateway: route matching, REST proxy events, authorizer verdicts and proxy results, as API Gateway does."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NOT_SET
from schemathesis.generation import GenerationMode

from infra import request_models
from infra.paths import ROOT
from local.gateway import (
    AuthorizerVerdict,
    Gateway,
    Request,
    Router,
    authorizer_event,
    interpret,
    method_arn,
    proxy_event,
    proxy_result,
)
from local.lambdas import Handler, Invoker
from local.routes import LocalRoutes
from local.scheduler import Scheduler
from switchboard import catalog
from switchboard.headers import SECURITY_HEADERS

FN = catalog.Function(name="fake_api", description="test-only")
AUTH = catalog.Function(name="fake_authorizer", description="test-only authorizer")
ROUTES = [
    (catalog.Route("GET", "/v1/messages", catalog.Auth.ANY, "list", permission=None), FN),
    (catalog.Route("GET", "/v1/messages/{id}", catalog.Auth.ANY, "read", permission=None), FN),
    (catalog.Route("GET", "/v1/messages/latest", catalog.Auth.ANY, "latest", permission=None), FN),
    (catalog.Route("POST", "/v1/carriers/{carrier}/events", catalog.Auth.PUBLIC, "events", permission=None), FN),
    (catalog.Route("GET", "/v1/files/{proxy+}", catalog.Auth.PUBLIC, "files", permission=None), FN),
    (catalog.Route("GET", "/v1/health", catalog.Auth.PUBLIC, "health", permission=None), FN),
]
# The keys of a REST proxy event as documented by AWS (API Gateway → Lambda proxy integration input format).
REST_EVENT_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}
REQUEST_CONTEXT_KEYS = {
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "extendedRequestId",
    "httpMethod",
    "identity",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "resourceId",
    "resourcePath",
    "stage",
}


def allow(arn: str = "*", context: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}
    return {
        "principalId": "usr_1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": context or {},
    }


class Fakes:
    """Test-only handlers for the fake API and the fake authorizer; records what each received."""

    def __init__(self, authorizer: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.auth_events: list[dict[str, Any]] = []
        self.authorizer = authorizer

    def api(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {"statusCode": 200, "multiValueHeaders": {"Content-Type": ["application/json"]}, "body": "{}"}

    def auth(self, event: dict[str, Any], context: Any) -> Any:
        self.auth_events.append(event)
        if isinstance(self.authorizer, Exception):
            raise self.authorizer
        return self.authorizer

    def load(self, name: str) -> Handler:
        return {"fake_api": self.api, "fake_authorizer": self.auth}[name]


def gateway(fakes: Fakes, *, with_authorizer: bool = True) -> Gateway:
    return Gateway(
        invoker=Invoker(fakes.load),
        routes=ROUTES,
        authorizer=AUTH if with_authorizer else None,
        use_catalog_authorizer=False,
        port=8080,
    )


def problem_of(response: Any) -> dict[str, Any]:
    assert response.header("Content-Type") == "application/problem+json"
    for name, value in SECURITY_HEADERS.items():
        assert response.header(name) == value
    body: dict[str, Any] = json.loads(response.body)
    assert body["request_id"] == response.header("X-Request-Id")
    return body


@pytest.mark.parametrize(
    ("method", "path", "resource", "params"),
    [
        ("GET", "/v1/messages", "/v1/messages", {}),
        ("GET", "/v1/messages/msg_1", "/v1/messages/{id}", {"id": "msg_1"}),
        ("GET", "/v1/messages/latest", "/v1/messages/latest", {}),  # a literal beats {id}
        ("POST", "/v1/carriers/sandbox-a/events", "/v1/carriers/{carrier}/events", {"carrier": "sandbox-a"}),
        ("GET", "/v1/files/a/b/c.txt", "/v1/files/{proxy+}", {"proxy": "a/b/c.txt"}),
    ],
)
def test_router_matches_the_most_specific_template(
    method: str, path: str, resource: str, params: dict[str, str]
) -> None:
    found = Router(ROUTES).match(method, path)
    assert found is not None
    assert (found[0].route.path, found[1]) == (resource, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing"), ("DELETE", "/v1/messages"), ("GET", "/v1/messages/a/b"), ("GET", "/v1/files")],
)
def test_router_finds_nothing_for_unknown_paths_and_methods(method: str, path: str) -> None:
    assert Router(ROUTES).match(method, path) is None


def test_proxy_event_has_the_api_gateway_rest_shape() -> None:
    request = Request(
        "GET",
        "/v1/messages/msg_1?status=sent&status=failed&limit=5&q=a%20b",
        headers=[("Accept", "application/json"), ("X-Multi", "1"), ("X-Multi", "2"), ("User-Agent", "curl/8")],
        source_ip="203.0.113.9",
        request_id="req-1",
    )
    event = proxy_event(request, "/v1/messages/{id}", {"id": "msg_1"}, 8080)
    assert set(event) == REST_EVENT_KEYS
    assert set(event["requestContext"]) == REQUEST_CONTEXT_KEYS
    assert event["resource"] == "/v1/messages/{id}"
    assert event["path"] == "/v1/messages/msg_1"
    assert event["pathParameters"] == {"id": "msg_1"}
    assert event["stageVariables"] is None
    assert event["queryStringParameters"] == {"status": "failed", "limit": "5", "q": "a b"}
    assert event["multiValueQueryStringParameters"]["status"] == ["sent", "failed"]
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9"
    context = event["requestContext"]
    assert (context["requestId"], context["stage"], context["resourcePath"]) == ("req-1", "local", "/v1/messages/{id}")
    assert context["identity"]["sourceIp"] == "203.0.113.9"
    assert context["identity"]["userAgent"] == "curl/8"
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


def test_proxy_event_without_query_or_path_parameters_has_nulls() -> None:
    event = proxy_event(Request("GET", "/v1/health"), "/v1/health", {}, 8080)
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_proxy_event_passes_text_bodies_as_is_and_binary_bodies_base64() -> None:
    text = proxy_event(
        Request("POST", "/x", [("Content-Type", "application/json")], b'{"a": "\xc3\xa9"}'), "/x", {}, 8080
    )
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": "é"}', False)
    binary = proxy_event(Request("POST", "/x", [("Content-Type", "image/png")], b"\x89PNG\x00"), "/x", {}, 8080)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x89PNG\x00"


def test_authorizer_event_is_a_request_authorizer_event_with_the_method_arn() -> None:
    proxy = proxy_event(Request("GET", "/v1/messages/msg_1?x=1"), "/v1/messages/{id}", {"id": "msg_1"}, 8080)
    event = authorizer_event(proxy)
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == "arn:aws:execute-api:eu-west-1:000000000000:local/local/GET/v1/messages/msg_1"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["requestId"] == proxy["requestContext"]["requestId"]
    assert "body" not in event


ARN = method_arn("GET", "/v1/messages/msg_1")


@pytest.mark.parametrize(
    "resource",
    [ARN, "*", "arn:aws:execute-api:eu-west-1:000000000000:local/*", "arn:aws:execute-api:*:*:local/local/GET/v1/*"],
)
def test_interpret_allows_when_an_allow_statement_matches_the_method_arn(resource: str) -> None:
    assert interpret(allow(resource), ARN) == {"principalId": "usr_1"}


def test_interpret_passes_context_values_as_strings() -> None:
    context = {"account_id": "acct_1", "role": "owner", "mfa": True, "limit": 10}
    assert interpret(allow(context=context), ARN) == {
        "principalId": "usr_1",
        "account_id": "acct_1",
        "role": "owner",
        "mfa": "true",
        "limit": "10",
    }


@pytest.mark.parametrize(
    ("result", "response_type"),
    [
        (allow(effect="Deny"), "ACCESS_DENIED"),
        (allow("arn:aws:execute-api:eu-west-1:000000000000:local/local/POST/*"), "ACCESS_DENIED"),
        ({**allow(), "policyDocument": {"Statement": []}}, "ACCESS_DENIED"),
        ({"principalId": "u"}, "AUTHORIZER_CONFIGURATION_ERROR"),
        ("Allow", "AUTHORIZER_CONFIGURATION_ERROR"),
        (allow(context={"nested": {"a": 1}}), "AUTHORIZER_CONFIGURATION_ERROR"),
    ],
)
def test_interpret_refuses_as_api_gateway_does(result: Any, response_type: str) -> None:
    with pytest.raises(AuthorizerVerdict) as refused:
        interpret(result, ARN)
    assert refused.value.response_type == response_type


def test_interpret_an_explicit_deny_wins_over_an_allow() -> None:
    result = allow()
    result["policyDocument"]["Statement"].append({"Action": "*", "Effect": "Deny", "Resource": ARN})
    with pytest.raises(AuthorizerVerdict, match="ACCESS_DENIED"):
        interpret(result, ARN)


def test_gateway_guarded_route_runs_the_authorizer_and_passes_its_context() -> None:
    fakes = Fakes(authorizer=allow(context={"account_id": "acct_1"}))
    response = gateway(fakes).dispatch(Request("GET", "/v1/messages/msg_1", [("Authorization", "Bearer t")]))
    assert response.status == 200
    [auth_event] = fakes.auth_events
    assert auth_event["headers"]["Authorization"] == "Bearer t"
    [event] = fakes.events
    assert event["requestContext"]["authorizer"] == {"principalId": "usr_1", "account_id": "acct_1"}
    assert response.header("X-Request-Id") == event["requestContext"]["requestId"]


def test_gateway_public_route_skips_the_authorizer() -> None:
    fakes = Fakes(authorizer=RuntimeError("must not run"))
    assert gateway(fakes).dispatch(Request("GET", "/v1/health")).status == 200
    assert fakes.auth_events == []
    assert "authorizer" not in fakes.events[0]["requestContext"]


@pytest.mark.parametrize(
    ("authorizer", "status", "code"),
    [
        (Exception("Unauthorized"), 401, "unauthorized"),
        (Exception("unauthorized!"), 500, "internal_error"),
        (KeyError("boom"), 500, "internal_error"),
        (allow(effect="Deny"), 403, "forbidden"),
        ({"nonsense": True}, 500, "internal_error"),
    ],
)
def test_gateway_maps_authorizer_outcomes_to_gateway_errors(authorizer: Any, status: int, code: str) -> None:
    fakes = Fakes(authorizer=authorizer)
    response = gateway(fakes).dispatch(Request("GET", "/v1/messages"))
    assert response.status == status
    assert problem_of(response)["code"] == code
    assert fakes.events == []  # the handler never ran


def test_gateway_guarded_route_without_an_authorizer_is_refused() -> None:
    fakes = Fakes()
    response = gateway(fakes, with_authorizer=False).dispatch(Request("GET", "/v1/messages"))
    assert (response.status, problem_of(response)["code"]) == (401, "unauthorized")
    assert fakes.events == []


def test_gateway_unknown_route_is_the_missing_authentication_token_404() -> None:
    response = gateway(Fakes()).dispatch(Request("GET", "/nope", request_id="r-9"))
    assert response.status == 404
    assert problem_of(response) == {
        "type": "https://docs.switchboard.example/problems/not_found",
        "title": "Not found",
        "status": 404,
        "detail": "No route matches this method and path.",
        "code": "not_found",
        "request_id": "r-9",
    }


def test_gateway_refuses_bodies_over_api_gateways_10_mb() -> None:
    fakes = Fakes()
    response = gateway(fakes).dispatch(Request("POST", "/v1/carriers/a/events", body=b"x" * (10 * 1024 * 1024 + 1)))
    assert (response.status, problem_of(response)["code"]) == (413, "payload_too_large")
    assert fakes.events == []


def test_gateway_handler_crash_is_a_502() -> None:
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    failing = Gateway(invoker=Invoker(lambda _: crash), routes=ROUTES, use_catalog_authorizer=False)
    response = failing.dispatch(Request("GET", "/v1/health"))
    assert (response.status, problem_of(response)["code"]) == (502, "bad_gateway")


def test_proxy_result_merges_headers_and_decodes_base64_bodies() -> None:
    response = proxy_result(
        {
            "statusCode": 201,
            "headers": {"Location": "/v1/x/1", "set-cookie": "ignored"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    assert response.headers == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Location", "/v1/x/1")]
    assert response.body == b"\x00\x01"


def test_local_routes_all_live_under_local_and_never_shadow_a_catalog_route() -> None:
    scheduler = Scheduler(catalog.FUNCTIONS, Invoker())
    table = LocalRoutes(gateway(Fakes()), scheduler).table()
    documentation = {("GET", "/openapi.json"), ("GET", "/docs")}
    catalog_routes = {(route.method, route.path) for route, _ in catalog.routes()}
    for method, template, _ in table:
        assert template.startswith("/_local/") or (method, template) in documentation, template
        assert (method, template) not in catalog_routes
    assert not any(path.startswith("/_local") or path in {"/openapi.json", "/docs"} for _, path in catalog_routes)


# --- request validation (the methods' request models, as API Gateway's request validator applies them) ----------


MODELS = request_models.committed()
# Every catalog route whose method has a request model, served by the recording fake behind an allowing authorizer.
MODEL_ROUTES = sorted(
    ((route.method, route.path) for route, _ in catalog.routes() if (route.method, route.path) in MODELS)
)
CATALOG_AS_FAKES = [(route, FN) for route, _ in catalog.routes()]


def catalog_gateway(fakes: Fakes) -> Gateway:
    return Gateway(invoker=Invoker(fakes.load), routes=CATALOG_AS_FAKES, authorizer=AUTH, use_catalog_authorizer=False)


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_1", template)


def send(fakes: Fakes, method: str, template: str, body: bytes, content_type: str | None = "application/json") -> Any:
    headers = [("Authorization", "Bearer t")] + ([("Content-Type", content_type)] if content_type else [])
    return catalog_gateway(fakes).dispatch(Request(method, concrete(template), headers, body))


def test_every_request_model_belongs_to_a_catalog_route() -> None:
    assert MODEL_ROUTES, "no request models: the validation tests below would test nothing"
    assert set(MODEL_ROUTES) == set(MODELS)


@pytest.mark.parametrize(
    "body", [b"[]", b'"text"', b"17", b"{", b'{"a": NaN}', b'{"a": "\xe2\x28\xa1"}', b"[" * 5000 + b"]" * 5000]
)
@pytest.mark.parametrize("operation", MODEL_ROUTES, ids=" ".join)
def test_gateway_refuses_a_body_its_model_rejects_and_the_handler_never_runs(
    operation: tuple[str, str], body: bytes
) -> None:
    fakes = Fakes(authorizer=allow())
    response = send(fakes, *operation, body)
    problem = problem_of(response)
    assert (response.status, problem["code"], problem["title"]) == (400, "invalid_body", "Invalid body")
    assert problem["detail"].startswith("The request body does not match its schema: [")
    assert fakes.events == []


@pytest.mark.parametrize("operation", MODEL_ROUTES, ids=" ".join)
def test_gateway_runs_the_authorizer_before_validating_the_body(operation: tuple[str, str]) -> None:
    fakes = Fakes(authorizer=Exception("Unauthorized"))
    response = send(fakes, *operation, b"[]")
    route = next(r for r, _ in catalog.routes() if (r.method, r.path) == operation)
    if route.auth is catalog.Auth.PUBLIC:
        assert (response.status, problem_of(response)["code"]) == (400, "invalid_body")
        assert fakes.auth_events == []
    else:
        assert (response.status, problem_of(response)["code"]) == (401, "unauthorized")
        assert len(fakes.auth_events) == 1
    assert fakes.events == []


@pytest.mark.parametrize(
    ("content_type", "validated"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        (None, True),  # API Gateway assumes application/json without a Content-Type
        ("text/plain", False),  # no model for this media type: API Gateway does not validate, the handler answers
        ("application/problem+json", False),
    ],
)
def test_gateway_validates_only_bodies_whose_media_type_selects_the_model(
    content_type: str | None, validated: bool
) -> None:
    fakes = Fakes(authorizer=allow())
    response = send(fakes, "POST", "/v1/sessions", b"[]", content_type)
    assert response.status == (400 if validated else 200)
    assert len(fakes.events) == (0 if validated else 1)


def test_gateway_validates_an_empty_body_as_an_empty_object() -> None:
    required = Fakes(authorizer=allow())
    response = send(required, "POST", "/v1/sessions", b"")
    assert (response.status, problem_of(response)["code"]) == (400, "invalid_body")
    assert "'email' is a required property" in problem_of(response)["detail"]
    optional = Fakes(authorizer=allow())  # an optional body: its model admits `{}`, so no body reaches the handler
    assert send(optional, "DELETE", "/v1/account", b"").status == 200
    assert optional.events[0]["body"] is None


def test_gateway_names_the_broken_rule_without_echoing_the_value() -> None:
    fakes = Fakes(authorizer=allow())
    body = json.dumps({"email": "SECRET-VALUE-not-an-address", "password": "x"}).encode()
    detail = problem_of(send(fakes, "POST", "/v1/sessions", body))["detail"]
    assert detail.startswith("The request body does not match its schema: [/email: fails pattern ")
    assert "SECRET-VALUE" not in detail


@pytest.fixture(scope="module")
def document_schema() -> schemathesis.BaseSchema:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    # The models validate JSON bodies only: a route that also takes raw bytes (a file) is tried with its JSON body.
    for item in document["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content")
            if content and "application/json" in content:
                operation["requestBody"]["content"] = {"application/json": content["application/json"]}
    return schemathesis.openapi.from_dict(document)


@pytest.mark.parametrize("operation", MODEL_ROUTES, ids=" ".join)
def test_gateway_passes_bodies_the_openapi_document_calls_valid_unchanged(
    document_schema: schemathesis.BaseSchema, operation: tuple[str, str]
) -> None:
    method, path = operation
    strategy = document_schema[path][method].as_strategy(generation_mode=GenerationMode.POSITIVE)

    @given(case=strategy)
    @settings(max_examples=5, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        raw = b"" if case.body is NOT_SET else json.dumps(case.body).encode()
        fakes = Fakes(authorizer=allow())
        response = send(fakes, method, path, raw)
        assert response.status == 200, (raw, response.body)
        [event] = fakes.events
        assert (event["body"] or "").encode() == raw

    check()


BYTES = b"\x89PNG\r\n\x1a\n\x00\xff"
BYTE_ROUTES = [
    (catalog.Route("GET", "/v1/files/{file_id}/content", catalog.Auth.PUBLIC, "bytes", permission=None), FN),
    (catalog.Route("GET", "/v1/media/{token}", catalog.Auth.PUBLIC, "link", permission=None), FN),
    (catalog.Route("POST", "/v1/echo", catalog.Auth.PUBLIC, "echo", permission=None), FN),
]


def _byte_gateway(seen: list[dict[str, Any]]) -> Gateway:
    """Every route answers BYTES base64-encoded, as files_api and media_links do, and keeps the event it got."""

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        body = base64.b64encode(BYTES).decode()
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": body, "isBase64Encoded": True}

    return Gateway(invoker=Invoker(lambda _: answer), routes=BYTE_ROUTES, use_catalog_authorizer=False)


@pytest.mark.parametrize(
    ("accept", "customer_api_decodes"),
    [
        ("image/png", True),
        ("application/octet-stream", True),
        ("IMAGE/PNG; q=0.9", True),  # parameters and case do not matter
        ("audio/x-wav", True),  # an alias is one of the binary types too
        ("image/png, */*", True),
        ("*/*", False),  # curl's default: not one of the customer API's binary types
        ("*/*, image/png", False),  # only the first type counts
        ("text/html, image/png", False),
        ("image/*", False),
        ("", False),
        (None, False),
    ],
)
def test_api_gateway_decodes_a_base64_answer_only_for_an_accept_naming_a_binary_type_of_the_api_serving_it(
    accept: str | None, customer_api_decodes: bool
) -> None:
    seen: list[dict[str, Any]] = []
    gateway = _byte_gateway(seen)
    headers = [] if accept is None else [("Accept", accept)]
    content = gateway.dispatch(Request("GET", "/v1/files/fil_1/content", headers))
    # What API Gateway sends the client otherwise is the base64 text itself, with the function's Content-Type.
    assert content.body == (BYTES if customer_api_decodes else base64.b64encode(BYTES))
    assert content.header("Content-Type") == "image/png"
    # The links API's binaryMediaTypes are `*/*`: a carrier gets the bytes whatever it sends (or sends none).
    link = gateway.dispatch(Request("GET", "/v1/media/tok.en", headers))
    assert (link.status, link.body) == (200, BYTES)
    assert [e["resource"] for e in seen] == ["/v1/files/{file_id}/content", "/{token}"]


def test_the_links_api_event_names_its_own_resource_and_carries_every_body_base64() -> None:
    seen: list[dict[str, Any]] = []
    gateway = _byte_gateway(seen)
    gateway.dispatch(Request("GET", "/v1/media/abc", [("Content-Type", "application/json")], b'{"a": 1}'))
    gateway.dispatch(Request("POST", "/v1/echo", [("Content-Type", "application/json")], b'{"a": 1}'))
    link, echo = seen
    # API Gateway strips the mapping's base path from the resource, never from the path the client asked for.
    assert (link["resource"], link["path"], link["pathParameters"]) == ("/{token}", "/v1/media/abc", {"token": "abc"})
    assert link["requestContext"]["resourcePath"] == "/{token}"
    assert (link["body"], link["isBase64Encoded"]) == (base64.b64encode(b'{"a": 1}').decode(), True)
    assert (echo["body"], echo["isBase64Encoded"]) == ('{"a": 1}', False)


def test_catalog_routes_under_the_links_prefix_are_public_gets_only() -> None:
    for auth, method in [(catalog.Auth.ANY, "GET"), (catalog.Auth.SESSION, "GET"), (catalog.Auth.PUBLIC, "POST")]:
        with pytest.raises(ValueError, match="links API"):
            catalog.Route(method, "/v1/media/{token}", auth, "x", permission=None)
    served = [route.path for route, _ in catalog.routes() if catalog.in_links_api(route.path)]
    assert served == ["/v1/media/{token}"]
