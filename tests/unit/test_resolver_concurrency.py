"""One resolver serving invocations at once (the local stack's threads, the suite's races) keeps each one's route.

Powertools keeps the matched route in `app.context`, which the policy and request validation read after routing
and which every resolve clears at its end: shared by two invocations, one's end wiped the other's route (KeyError
'_route' → 500 under concurrent sends).
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.event_handler import Response

from switchboard import api, catalog
from tests.lambda_context import Context

ROUTES = (
    catalog.Route("GET", "/v1/slow", catalog.Auth.PUBLIC, "Waits for the other request", permission=None),
    catalog.Route("GET", "/v1/fast/{item}", catalog.Auth.PUBLIC, "Ends while the slow one runs", permission=None),
)


def _event(path: str, resource: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "requestContext": {"requestId": path, "stage": "live", "identity": {"sourceIp": "203.0.113.9"}},
        "body": None,
        "isBase64Encoded": False,
    }


def test_an_invocation_that_ends_meanwhile_leaves_the_other_ones_route_and_answer_intact() -> None:
    app = api.build_resolver(ROUTES)
    slow_inside = threading.Event()
    fast_done = threading.Event()
    seen: dict[str, Any] = {}

    @app.get("/v1/slow")
    def slow() -> Response[str]:
        slow_inside.set()
        assert fast_done.wait(10)
        route = app.context.get("_route")
        seen["slow_route"] = None if route is None else route.path
        return Response(status_code=200, content_type="application/json", body='{"who":"slow"}')

    @app.get("/v1/fast/<item>")
    def fast(item: str) -> Response[str]:
        return Response(status_code=200, content_type="application/json", body=f'{{"who":"{item}"}}')

    answers: dict[str, dict[str, Any]] = {}

    def call_slow() -> None:
        answers["slow"] = api.handle(app, _event("/v1/slow", "/v1/slow"), Context())  # type: ignore[arg-type]

    thread = threading.Thread(target=call_slow)
    thread.start()
    assert slow_inside.wait(10)
    for n in range(3):  # each ends (and clears its context) while the slow one is still inside its route
        answer = api.handle(
            app,
            _event(f"/v1/fast/f{n}", "/v1/fast/{item}", {"item": f"f{n}"}),
            Context(),  # type: ignore[arg-type]
        )
        assert (answer["statusCode"], answer["body"]) == (200, f'{{"who":"f{n}"}}')
    fast_done.set()
    thread.join(10)

    assert seen["slow_route"] == "/v1/slow"
    assert (answers["slow"]["statusCode"], answers["slow"]["body"]) == (200, '{"who":"slow"}')
