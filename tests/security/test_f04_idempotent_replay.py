"""Finding 4: an idempotent replay is an authorized request like any other, and never re-shows a one-time secret.

Every authenticated POST route of the catalog (the routes that take `Idempotency-Key`) is sent once by an admin,
with a session and, where the route takes one, with an API key the admin created; then the same request is
replayed under each change an attacker could exploit: demoted to viewer, re-authentication window passed, API key
revoked or session ended, account suspended, another principal with the same key. A replay answers what a fresh
request by that caller would be refused with, or else the stored answer, except that an answer which showed a
one-time secret (API key, webhook signing secret, TOTP seed, recovery codes, callback secret) is 409
`idempotency_secret_shown` naming the object it created, never the secret. A route added later without a recipe
fails `test_every_idempotent_route_has_a_recipe`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from typing import Any

import pytest
from pydantic import BaseModel

import switchboard.models
from switchboard import catalog, clock
from switchboard.models.one_time import secret_fields
from switchboard.models.permissions import Role, allows
from tests.integration.conftest import set_account_status
from tests.integration.identity.gateway import call
from tests.integration.identity.support import PASSWORD, Answer
from tests.integration.identity.test_role_matrix import RECIPES, Request, World, _world

# The routes that need a login or re-authentication within 5 minutes for the requests below (R24); any other
# idempotent route must replay for a stale session, so a new step-up route that is missing here fails the test.
REAUTH_ROUTES = frozenset(
    {
        "/v1/api-keys",
        "/v1/api-keys/{key_id}/rotate",
        "/v1/me/password",
        "/v1/me/mfa/totp",
        "/v1/me/mfa/totp/activate",
        "/v1/me/mfa/recovery-codes",
        "/v1/members",  # inviting is sensitive
    }
)
# Answer fields that hold a secret shown once: a replay must never carry their values.
SECRET_NAMES = frozenset({"key", "secret", "otpauth_uri", "recovery_codes", "callback_secret", "token"})
_SECRETISH = re.compile(r"(^|_)(secret|key|token|codes|otpauth_uri)$")


def idempotent_routes() -> list[catalog.Route]:
    """Every route that takes Idempotency-Key: the authenticated POSTs (switchboard.api)."""
    return [r for r, _ in catalog.routes() if r.method == "POST" and r.auth is not catalog.Auth.PUBLIC]


def test_every_idempotent_route_has_a_recipe() -> None:
    missing = [r.path for r in idempotent_routes() if ("POST", r.path) not in RECIPES]
    assert not missing, f"add a recipe (tests/integration/identity/test_role_matrix.py) for: {missing}"
    assert len(idempotent_routes()) >= 12


def test_every_answer_field_that_looks_secret_is_marked_one_time() -> None:
    """A new answer model with a secret must mark it (models/one_time.py), or replays would show it again."""
    unmarked: list[str] = []
    for module_info in pkgutil.iter_modules(switchboard.models.__path__):
        module = importlib.import_module(f"switchboard.models.{module_info.name}")
        for model in vars(module).values():
            if not (isinstance(model, type) and issubclass(model, BaseModel)) or model.__module__ != module.__name__:
                continue
            if model.__name__.endswith("In") or model.model_config.get("extra") == "forbid":
                continue  # request bodies
            marked = set(secret_fields(model))
            unmarked += [
                f"{model.__name__}.{name}"
                for name in model.model_fields
                if name in SECRET_NAMES | {"seed"} and name not in marked
            ]
    assert not unmarked, f"mark these one-time secrets with ONE_TIME_SECRET: {unmarked}"


def _secrets(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    found: list[str] = []
    for name, value in body.items():
        if name in SECRET_NAMES and value:
            found += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return found


class Case:
    """One original request by the admin (with one credential) and what its replays must answer."""

    def __init__(self, world: World, route: catalog.Route, request: Request, token: str, credential: str) -> None:
        self.world = world
        self.route = route
        self.request = request
        self.credential = credential
        self.key = f"idem-{world.unique('k')}"
        self.raw = json.dumps(request.body) if request.body is not None else None
        self.original = self.send(token)
        self.shown = _secrets(self.original.body)

    def label(self, variant: str) -> str:
        return f"POST {self.route.path} ({self.credential}) {variant}"

    def send(self, token: str, key: str | None = None) -> Answer:
        clock.advance(0.2)  # pace like a client: the rate limits are not under test
        return call("POST", self.request.path, raw=self.raw, token=token, headers={"Idempotency-Key": key or self.key})

    def replayed(self, answer: Answer) -> str:
        """Empty when `answer` is a correct replay of the original (its body, or 409 when it showed a secret)."""
        text = json.dumps(answer.body)
        leaked = [s for s in self.shown if s in text]
        if leaked:
            return f"replay re-showed a one-time secret: {answer.status} {text[:160]}"
        if self.shown:
            created = (self.original.body or {}).get("id")
            ok = answer.status == 409 and answer.body.get("code") == "idempotency_secret_shown"
            return "" if ok and answer.body.get("id") == created else f"expected 409 secret shown: {text[:200]}"
        if answer.status != self.original.status or answer.body != self.original.body:
            return f"expected the stored {self.original.status}: {answer.status} {text[:200]}"
        return "" if answer.headers.get("Idempotency-Replay") == "true" else "no Idempotency-Replay header"

    def refused(self, answer: Answer, status: int, code: str | None) -> str:
        """Empty when `answer` is exactly the refusal a fresh request would get, with nothing of the original."""
        text = json.dumps(answer.body)
        original_id = (self.original.body or {}).get("id") if isinstance(self.original.body, dict) else None
        if original_id and original_id in self.request.path:
            original_id = None  # the caller named it (POST /v1/messages/{id}/cancel): a refusal may name it too
        if any(s in text for s in self.shown) or (original_id and original_id in text):
            return f"refusal leaked the original answer: {text[:200]}"
        got = (answer.status, (answer.body or {}).get("code"))
        return "" if got == (status, code or got[1]) else f"expected {status} {code}: {got[0]} {got[1]}"


def _admin_key(world: World) -> tuple[str, str]:
    """A new API key created by the admin with the admin role (a demotion of its creator lowers it)."""
    created = call(
        "POST", "/v1/api-keys", {"name": world.unique("adm"), "role": "admin"}, token=world.session(Role.ADMIN)
    )
    assert created.status == 201, created.body
    return created.body["key"], created.body["id"]


def _set_role(world: World, role: Role) -> None:
    path = f"/v1/members/{world.user_ids[Role.ADMIN]}"
    answer = call("PATCH", path, {"role": role.value}, token=world.session(Role.OWNER))
    assert answer.status == 200, answer.body


def _variants(world: World, case: Case, token: str, key_id: str | None, account_id: str) -> list[str]:
    """Replay the case under every change; returns what went wrong."""
    failures: list[str] = []

    def expect(variant: str, problem: str) -> None:
        if problem:
            failures.append(f"{case.label(variant)}: {problem}")

    route = case.route
    expect("same caller", case.replayed(case.send(token)))
    # Another principal of the same account, same key and body: never the first caller's answer.
    other = case.send(world.session(Role.OWNER))
    expect("other principal", case.refused(other, 422, "idempotency_key_reused"))
    # Demoted to viewer: what the viewer may not do is refused (a key follows its creator's role down).
    _set_role(world, Role.VIEWER)
    demoted = case.send(token)
    permission = route.permission
    if permission is None or allows(Role.VIEWER, permission):
        expect("demoted to viewer", case.replayed(demoted))
    else:
        expect("demoted to viewer", case.refused(demoted, 403, "forbidden"))
    _set_role(world, Role.ADMIN)
    if case.credential == "session":
        # The re-authentication window passes: step-up routes are refused again (401 reauth_required).
        clock.advance(301)
        stale = case.send(token)
        if route.path in REAUTH_ROUTES:
            expect("reauth window passed", case.refused(stale, 401, "reauth_required"))
        else:
            expect("reauth window passed", case.replayed(stale))
        assert call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=token).status == 200
        world.authed_at[Role.ADMIN] = clock.timestamp()
    # Account suspended: refused before anything is looked up (the authorizer), for both credentials.
    set_account_status(account_id, "suspended")
    expect("account suspended", case.refused(case.send(token), 401, None))
    set_account_status(account_id, "active")
    expect("account active again", case.replayed(case.send(token)))
    return failures


def _ended(world: World, case: Case, token: str, key_id: str | None) -> list[str]:
    """The credential ends (key revoked, session logged out): its replay is refused; then it is replaced."""
    if key_id is not None:
        revoked = call("DELETE", f"/v1/api-keys/{key_id}", token=world.session(Role.ADMIN))
        assert revoked.status == 204, revoked.body
        variant = "key revoked"
    else:
        assert call("DELETE", "/v1/sessions/current", token=token).status == 204
        variant = "session ended"
    problem = case.refused(case.send(token), 401, None)
    return [f"{case.label(variant)}: {problem}"] if problem else []


def _requests(world: World, route: catalog.Route, token: str) -> list[Request]:
    """The route's recipe (as the admin); a message also once with a callback_url (its answer shows a secret)."""
    requests = [RECIPES[("POST", route.path)](world, Role.ADMIN, token, True)]
    if route.path == "/v1/messages":
        body = {**requests[0].body, "callback_url": "http://127.0.0.1:9/callback"}
        requests.append(Request(route.path, body))
    return requests


@pytest.mark.usefixtures("identity", "queues")
def test_replays_are_authorized_on_every_idempotent_route() -> None:
    world = _world()
    account_id = call("GET", "/v1/me", token=world.session(Role.OWNER)).body["account_id"]
    failures: list[str] = []
    cases = secrets_shown = 0
    for route in idempotent_routes():
        credentials = ["session"] + (["api_key"] if route.auth is catalog.Auth.ANY else [])
        for credential in credentials:
            key_id: str | None = None
            if credential == "api_key":
                token, key_id = _admin_key(world)
            else:
                token = world.session(Role.ADMIN)
            for request in _requests(world, route, token):
                case = Case(world, route, request, token, credential)
                if not 200 <= case.original.status < 300:
                    failures.append(f"{case.label('original')}: {case.original.status} {case.original.body}")
                    continue
                if request.after is not None:
                    request.after()  # e.g. TOTP off again, so that re-authentication needs only the password
                failures += _variants(world, case, token, key_id, account_id)
                secrets_shown += bool(case.shown)
                cases += 1
            failures += _ended(world, case, token, key_id)
            if key_id is None:
                world.relogin(Role.ADMIN)
                # The same user in a new session is the same principal: the answer is still the stored one.
                problem = case.replayed(case.send(world.sessions[Role.ADMIN]))
                if problem:
                    failures.append(f"{case.label('new session of the same user')}: {problem}")
    print(
        f"idempotent replay: {len(idempotent_routes())} routes, {cases} originals ({secrets_shown} showing a one-time"
        " secret), each replayed by its caller, another principal, demoted, stale, suspended, ended"
    )
    assert secrets_shown >= 6
    assert not failures, "\n".join(failures)


def test_step_up_routes_are_what_the_catalog_declares() -> None:
    """The re-authentication this test expects is the route policy's (`Route.reauth`), not a second opinion."""
    assert {r.path for r in idempotent_routes() if r.reauth} == REAUTH_ROUTES
