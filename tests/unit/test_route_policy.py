"""The route policy (R24, R31, R54): every catalog route x every kind of caller, through `api.handle`'s middlewares.

Each catalog route is served by a stub on a resolver built from the catalog's declarations, and called with no
credential, and by every role with a fresh session, a stale session and an API key. The policy answers first: a
refused caller never spends a rate-limit token, never claims or replays an Idempotency-Key and never reaches the
route. The rate limiter, the idempotency store and the audit trail are recorders here (their storage is proven by
tests/integration/test_api_guards.py and the security suite); the policy and the middleware chain are the real ones.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from switchboard import api, auth, catalog, clock
from switchboard.logic import audit, idempotency, ratelimit
from switchboard.models.permissions import SESSION_ONLY, Permission, Role, allows
from tests.lambda_context import Context

# The JSON API's routes: the console's pages are not served by `api.Resolver` (switchboard.console.app checks its own).
ROUTES = [route for route, _ in catalog.json_routes()]
_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass
class Seen:
    """What ran behind the policy, per request."""

    routes: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # rate-limit checks (account|key)
    claims: list[str] = field(default_factory=list)  # Idempotency-Keys looked up
    denied: list[str] = field(default_factory=list)  # audit codes of refusals
    replay: idempotency.Replay | None = None  # what the idempotency store answers, when set

    def clear(self) -> None:
        self.routes.clear()
        self.tokens.clear()
        self.claims.clear()
        self.denied.clear()


def _stub_app(seen: Seen) -> APIGatewayRestResolver:
    """Every catalog route, served by a stub that notes it ran; the policy comes from the catalog (the default)."""
    app = api.build_resolver()
    for route in ROUTES:
        rule = _PARAM.sub(lambda m: f"<{m.group(1).removesuffix('+')}>", route.path)

        app.route(rule, route.method)(_stub(seen, route))
    return app


def _stub(seen: Seen, route: catalog.Route) -> Any:
    def stub(**path_parameters: str) -> Response[str]:
        seen.routes.append(f"{route.method} {route.path}")
        return Response(status_code=200, content_type="application/json", body='{"ok":true}')

    # Exactly the route's path parameters, so request validation (a middleware like any other here) accepts it.
    names = [name.removesuffix("+") for name in _PARAM.findall(route.path)]
    stub.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str) for name in names],
        return_annotation=Response[str],
    )
    return stub


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[Seen]:
    record = Seen()

    def check(*, account_id: str, key_id: str, plan: str) -> ratelimit.Decision:
        record.tokens.append(f"{account_id}|{key_id}")
        return ratelimit.Decision(allowed=True, limit=100, remaining=99, reset_s=1)

    def begin(*, account_id: str, key: str, request_fingerprint: str, lock_s: float) -> Any:
        record.claims.append(key)
        if record.replay is not None:
            return record.replay
        return idempotency.Claim(account_id=account_id, key=(account_id, key), fingerprint="f", token="t")

    monkeypatch.setattr(ratelimit, "check", check)
    monkeypatch.setattr(idempotency, "begin", begin)
    monkeypatch.setattr(idempotency, "finish", lambda claim, result, **_: None)
    monkeypatch.setattr(audit, "record_denied", lambda **kwargs: record.denied.append(kwargs["data"]["code"]))
    yield record


@dataclass(frozen=True)
class Caller:
    """One kind of principal: none, a session (fresh or past the re-auth window) or an API key, of one role."""

    kind: str  # none | session | stale_session | api_key
    role: Role = Role.OWNER

    def context(self) -> dict[str, str] | None:
        if self.kind == "none":
            return None
        session = self.kind != "api_key"
        fresh = self.kind == "session"
        return {
            "account_id": "acct_a",
            "principal": "usr_1" if session else "key_1",
            "principalId": "usr_1" if session else "key_1",
            "role": self.role.value,
            "credential": "session" if session else "api_key",
            "session_id": "ses_1" if session else "",
            "key_id": "" if session else "key_1",
            "plan": "free",
            "mode": "test",
            "auth_at": str(int(clock.timestamp()) - (10 if fresh else auth.REAUTH_WINDOW_S + 1)) if session else "",
        }


CALLERS = [Caller("none")] + [
    Caller(kind, role) for kind, role in itertools.product(("session", "stale_session", "api_key"), Role)
]


def _event(route: catalog.Route, caller: Caller, *, resource: str = "template") -> dict[str, Any]:
    path = _PARAM.sub(lambda m: f"{m.group(1)[:3]}_1", route.path)
    headers = {"Content-Type": "application/json", "Idempotency-Key": "order-1"}
    event: dict[str, Any] = {
        "resource": route.path if resource == "template" else path,
        "path": path,
        "httpMethod": route.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {m: f"{m[:3]}_1" for m in _PARAM.findall(route.path)} or None,
        "requestContext": {"requestId": "req-1", "stage": "live", "identity": {"sourceIp": "203.0.113.9"}},
        "body": "{}" if route.method in {"POST", "PATCH", "PUT"} else None,
        "isBase64Encoded": False,
    }
    context = caller.context()
    if context is not None:
        event["requestContext"]["authorizer"] = context
    return event


def _expected(route: catalog.Route, caller: Caller) -> tuple[int, str | None]:
    """What API.md says the caller gets, read off the route's declaration: refused (status, code) or (200, None)."""
    if route.auth is catalog.Auth.PUBLIC:
        return 200, None
    if caller.kind == "none":
        return 401, "unauthorized"
    if route.auth is catalog.Auth.SESSION and caller.kind == "api_key":
        return 403, "session_required"
    if route.permission is not None and not allows(caller.role, route.permission):
        return 403, "forbidden"
    if route.reauth and caller.kind == "stale_session":
        return 401, "reauth_required"
    return 200, None


def _call(app: APIGatewayRestResolver, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, list[str]]]:
    result = api.handle(app, event, Context())  # type: ignore[arg-type]
    return result["statusCode"], json.loads(result["body"] or "{}"), result["multiValueHeaders"]


# API Gateway sends the resource template; a harness or proxy may send the concrete path: the policy is the same.
@pytest.mark.parametrize("resource", ["template", "concrete"])
def test_every_route_and_caller_meets_the_policy_before_any_limit_or_idempotency_key(seen: Seen, resource: str) -> None:
    app = _stub_app(seen)
    failures: list[str] = []
    cells = refused = 0
    for route, caller in itertools.product(ROUTES, CALLERS):
        seen.clear()
        status, body, headers = _call(app, _event(route, caller, resource=resource))
        want_status, want_code = _expected(route, caller)
        name = f"{route.method} {route.path} {caller.kind}/{caller.role}"
        cells += 1
        if (status, body.get("code")) != (want_status, want_code) and not (want_code is None and status == 200):
            failures.append(f"{name}: {status} {body.get('code')}, expected {want_status} {want_code}")
            continue
        authenticated = caller.kind != "none"
        if want_code is not None:
            refused += 1
            # Refused first: no token spent, no key claimed, the route never ran.
            if seen.tokens or seen.claims or seen.routes:
                failures.append(f"{name}: refused after {seen.tokens=} {seen.claims=} {seen.routes=}")
            if status == 403 and seen.denied != [want_code]:
                failures.append(f"{name}: refusal not audited as denied ({seen.denied})")
            if any(h.startswith("RateLimit") for h in headers):
                failures.append(f"{name}: a refused request carries RateLimit headers")
        else:
            if seen.routes != [f"{route.method} {route.path}"]:
                failures.append(f"{name}: the route did not run once ({seen.routes})")
            if seen.tokens != (["acct_a|" + ("key_1" if caller.kind == "api_key" else "")] if authenticated else []):
                failures.append(f"{name}: tokens {seen.tokens}")
            claims = ["order-1"] if authenticated and route.method == "POST" else []
            if seen.claims != claims:
                failures.append(f"{name}: claims {seen.claims}")
    print(f"route policy: {len(ROUTES)} routes x {len(CALLERS)} callers = {cells} cells ({refused} refused)")
    assert not failures, "\n".join(failures[:40])
    assert refused > 300  # the matrix really refuses (not every cell passes by accident)


def test_a_replay_for_a_caller_the_policy_refuses_is_403_and_never_replayed(seen: Seen) -> None:
    """The first answer is stored; the caller was demoted since: the policy refuses before the store is asked."""
    app = _stub_app(seen)
    stored = {"statusCode": 202, "multiValueHeaders": {"Content-Type": ["application/json"]}, "body": '{"id":"m1"}'}
    seen.replay = idempotency.Replay(checks=[], response=stored)
    send = next(r for r in ROUTES if (r.method, r.path) == ("POST", "/v1/messages"))
    status, body, headers = _call(app, _event(send, Caller("api_key", Role.VIEWER)))
    assert (status, body["code"]) == (403, "forbidden")
    assert seen.claims == [] and seen.tokens == [] and seen.routes == []
    assert "Idempotency-Replay" not in headers
    # The same key by a caller the policy admits: the stored answer, marked as a replay, and the route not run.
    status, body, headers = _call(app, _event(send, Caller("api_key", Role.AGENT)))
    assert (status, body, headers["Idempotency-Replay"]) == (202, {"id": "m1"}, ["true"])
    assert headers["Content-Type"] == ["application/json"] and seen.routes == []


def test_a_key_on_a_session_route_is_refused_before_a_token_or_a_key_claim(seen: Seen) -> None:
    app = _stub_app(seen)
    create_key = next(r for r in ROUTES if (r.method, r.path) == ("POST", "/v1/api-keys"))
    status, body, _ = _call(app, _event(create_key, Caller("api_key", Role.OWNER)))
    assert (status, body["code"]) == (403, "session_required")
    assert (seen.tokens, seen.claims, seen.routes) == ([], [], [])
    # A stale owner session: refused for staleness, also before the limiter and the key.
    status, body, _ = _call(app, _event(create_key, Caller("stale_session", Role.OWNER)))
    assert (status, body["code"]) == (401, "reauth_required")
    assert (seen.tokens, seen.claims, seen.routes) == ([], [], [])


def test_a_handler_without_a_declared_policy_is_refused(seen: Seen) -> None:
    app = api.build_resolver(routes=[])

    @app.get("/v1/undeclared")
    def undeclared() -> dict[str, str]:
        seen.routes.append("undeclared")
        return {"ok": "yes"}

    route = catalog.Route("GET", "/v1/undeclared", catalog.Auth.ANY, "test route", permission=None)
    status, body, _ = _call(app, _event(route, Caller("session", Role.OWNER)))
    assert (status, body["code"], seen.routes) == (403, "forbidden", [])
    # A path nothing serves is still the resolver's 404.
    other = catalog.Route("GET", "/v1/nothing-here", catalog.Auth.ANY, "test route", permission=None)
    assert _call(app, _event(other, Caller("session", Role.OWNER)))[1]["code"] == "not_found"


# --- the declarations themselves --------------------------------------------------------------------------------


def test_every_route_declares_its_policy_and_the_declarations_agree_with_api_md() -> None:
    for route in ROUTES:
        assert route.permission is None or isinstance(route.permission, Permission), route
        if route.auth is catalog.Auth.PUBLIC:
            assert route.permission is None and not route.reauth, route
        if route.permission in SESSION_ONLY or route.reauth:
            assert route.auth is catalog.Auth.SESSION, route
    # Spot checks against API.md, independent of the declarations: message reads are every role's, sending is not
    # the viewer's, members and keys are managed from a session, account deletion is the owner's.
    by_key = {(r.method, r.path): r for r in ROUTES}
    assert by_key[("GET", "/v1/messages")].permission is Permission.MESSAGES_READ
    assert by_key[("GET", "/v1/templates")].permission is Permission.TEMPLATES_READ
    assert by_key[("GET", "/v1/recipients")].permission is Permission.RECIPIENTS_READ
    assert not allows(Role.VIEWER, by_key[("POST", "/v1/messages")].permission or Permission.ACCOUNT_READ)
    assert by_key[("POST", "/v1/members")].auth is catalog.Auth.SESSION
    assert by_key[("DELETE", "/v1/account")].permission is Permission.ACCOUNT_MANAGE


@pytest.mark.parametrize(
    ("auth_kind", "permission", "reauth"),
    [
        (catalog.Auth.PUBLIC, Permission.ACCOUNT_READ, False),
        (catalog.Auth.PUBLIC, None, True),
        (catalog.Auth.ANY, None, True),
        (catalog.Auth.ANY, Permission.MEMBERS_MANAGE, False),
    ],
)
def test_a_contradictory_declaration_fails_at_import(
    auth_kind: catalog.Auth, permission: Permission | None, reauth: bool
) -> None:
    with pytest.raises(ValueError, match="/v1/x"):
        catalog.Route("POST", "/v1/x", auth_kind, "x", permission=permission, reauth=reauth)


def test_a_route_without_a_permission_statement_cannot_be_built() -> None:
    with pytest.raises(TypeError, match="permission"):
        catalog.Route("GET", "/v1/x", catalog.Auth.ANY, "x")  # type: ignore[call-arg]
