"""Schemathesis against the local stack: every documented operation, with a session and with an API key, every check.

Positive and negative cases from the served /openapi.json, a fixed seed and derandomized Hypothesis, a few
examples per operation (the whole run takes a few minutes). Any failure of any check fails the test.

The run has a stack of its own (it locks the client IP out of logins, R10, and fills the rate-limit buckets).
Operations that end the caller's sessions (`DELETE /v1/sessions`, `DELETE /v1/sessions/current`) run first, each
case with a fresh session of a third account's owner, so they never log the run out; after every operation the
run's credential must still work.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft4Validator
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation

from infra import request_models
from tests.e2e.conftest import E2E_ENV, ROOT, LocalStack, running_stack

pytestmark = pytest.mark.e2e
DOCUMENT = ROOT / "docs" / "openapi.json"

PASSWORD = "lantern quasar velvet plumbing"
SEED = 20261201
MAX_EXAMPLES = 6
# The free plan allows 20 requests a second per account and 10 per API key: stay below, so the run tests the
# routes and not the limiter.
RATE_LIMITS = {"session": "15/s", "apiKey": "8/s"}
SESSION_ENDING = frozenset({("DELETE", "/v1/sessions"), ("DELETE", "/v1/sessions/current")})
ACCEPTABLE = ["2xx", "401", "403", "404", "409", "410", "422", "429"]
OPAQUE_VALUE_PATHS = (
    "/v1/email-verifications",
    "/v1/password-resets/confirm",
    "/v1/invitations/accept",
    # A `cursor` query parameter:
    "/v1/audit-events",
    "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    "/v1/recipients",
    "/v1/recipients/{recipient_id}/consents",
    "/v1/lists/{list_id}/recipients",
    "/v1/messages",
    "/v1/api-keys",
    "/v1/webhook-endpoints",
    "/v1/members",
    "/v1/sessions",
    "/v1/templates",
    "/v1/conversations",
    "/v1/recipients/{recipient_id}/messages",
    "/v1/recordings",
)
CONFIG = {
    "seed": SEED,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "checks": {
        "enabled": True,
        # A schema-valid body may still break a rule JSON Schema cannot state (a number outside its country's plan,
        # a blocklisted password, no consent, the wrong state): those answer a named 422 or 410. Anything else
        # (400, 413, 415, 5xx) for a schema-valid request is still a failure.
        "positive_data_acceptance": {"expected-statuses": ACCEPTABLE},
        # A method a path does not have is a 405 with Allow (R40): deployed by each resource's catch-all MOCK
        # method (infra/constructs/rest_api.py), locally by the gateway.
        "unsupported_method": {"enabled": True},
    },
    "operations": [
        {
            # Tokens and cursors are opaque values only this API issues: a well-formed one it never issued is a
            # 400 (token_invalid, invalid_cursor), as API.md says, though the schema cannot tell the two apart.
            "include-path": [*OPAQUE_VALUE_PATHS],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTABLE, "400"]}},
        },
        {
            # A file is checked by what its bytes are, which no schema states: random bytes (or a channel that
            # carries no such file) are a named 415 or 413 (docs/files.md); the list's cursor is opaque (400).
            "include-path": ["/v1/files"],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTABLE, "400", "413", "415"]}},
        },
    ],
}
CASES: Counter[tuple[str, str]] = Counter()  # (credential, operation) -> cases sent
FAILURES: Counter[tuple[str, str]] = Counter()  # (credential, operation) -> failed cases
NO_NEGATIVE: set[tuple[str, str, str]] = set()


@dataclass
class Credential:
    """A credential kind, its bearer token, and how to get a fresh session for session-ending operations."""

    kind: str  # "session" or "apiKey", as the document names its security schemes
    token: str
    disposable: str  # e-mail of another account's owner: session-ending operations end only its sessions

    def bearer(self, stack: LocalStack, method: str, path: str) -> dict[str, str]:
        token = self.token
        if self.kind == "session" and (method, path) in SESSION_ENDING:
            answer = stack.request("POST", "/v1/sessions", {"email": self.disposable, "password": PASSWORD})
            assert answer.status == 201, answer.body
            token = answer.json()["token"]
        return {"Authorization": f"Bearer {token}"}


def _owner(stack: LocalStack) -> tuple[str, str]:
    """A verified owner of a new account: (e-mail, session token)."""
    email = f"contract-{secrets.token_hex(4)}@e2e.example"
    body = {"email": email, "password": PASSWORD, "account_name": "Contract Co"}
    assert stack.request("POST", "/v1/signup", body).status == 202
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    login = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD})
    assert login.status == 201, login.body
    return email, login.json()["token"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own: the fuzzing locks its client IP out of logins and fills its rate limits."""
    with running_stack(tmp_path_factory.mktemp("contract-stack"), env=E2E_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def contract_schemas(stack: LocalStack) -> dict[str, schemathesis.BaseSchema]:
    """The document the stack serves (test_local_stack proves it equals the committed one), paced per credential."""
    return {
        kind: schemathesis.openapi.from_url(
            f"{stack.base_url}/openapi.json",
            config=SchemathesisConfig.from_dict({**CONFIG, "base-url": stack.base_url, "rate-limit": rate}),
        )
        for kind, rate in RATE_LIMITS.items()
    }


def _operations() -> list[tuple[str, str, str]]:
    """(credential, METHOD, path): every operation with a session; those that take credentials with an API key too."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            found.append(("session", method.upper(), path))
            if operation["security"]:
                found.append(("apiKey", method.upper(), path))
    # Session-ending operations log in afresh for every case: they run before the login fuzzing locks the client IP
    # out of logins (R10: 10 failures in 15 minutes).
    return sorted(found, key=lambda item: (item[1:] not in SESSION_ENDING, item[0] != "session", item[2], item[1]))


OPERATIONS = _operations()


def _run(operation: APIOperation, mode: GenerationMode, send: Callable[[schemathesis.Case], None]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # with the seed in CONFIG: the same cases every run
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected as they are, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        send(case)

    run()


@pytest.fixture(scope="module")
def credentials(stack: LocalStack) -> dict[str, Credential]:
    """A session of one account and an admin API key of another (each run has its own rate-limit buckets); a third
    account's owner logs in afresh for each case of a session-ending operation."""
    _, session = _owner(stack)
    _, key_session = _owner(stack)
    disposable, _ = _owner(stack)
    created = stack.request(
        "POST",
        "/v1/api-keys",
        {"name": "contract", "role": "admin"},
        headers={"Authorization": f"Bearer {key_session}"},
    )
    assert created.status == 201, created.body
    return {
        "session": Credential("session", session, disposable),
        "apiKey": Credential("apiKey", created.json()["key"], disposable),
    }


@pytest.mark.parametrize("target", OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_contract_holds(
    contract_schemas: dict[str, schemathesis.BaseSchema],
    credentials: dict[str, Credential],
    stack: LocalStack,
    target: tuple[str, str, str],
) -> None:
    kind, method, path = target
    credential = credentials[kind]
    failures: list[str] = []

    def send(case: schemathesis.Case) -> None:
        CASES[(kind, f"{method} {path}")] += 1
        try:
            case.call_and_validate(base_url=stack.base_url, headers=credential.bearer(stack, method, path))
        except FailureGroup as group:
            failures.append(str(group))

    operation = contract_schemas[kind][path][method]
    _run(operation, GenerationMode.POSITIVE, send)
    try:
        _run(operation, GenerationMode.NEGATIVE, send)
    except Unsatisfiable:
        # Nothing to make invalid: no body, and no parameter an invalid value of which still makes a URL.
        assert "requestBody" not in operation.definition.raw, f"no negative case for {method} {path}"
        NO_NEGATIVE.add((kind, method, path))
    FAILURES[(kind, f"{method} {path}")] = len(failures)
    # The run's own credential outlived this operation: every case of the next one is sent with a live one.
    alive = stack.request("GET", "/v1/account", headers={"Authorization": f"Bearer {credential.token}"})
    assert alive.status == 200, f"{method} {path} ended the run's {kind}: {alive.body[:200]!r}"
    assert CASES[(kind, f"{method} {path}")] > 0
    assert not failures, "\n".join(failures[:3])


def test_contract_run_covered_every_operation_with_both_credentials() -> None:
    """Runs last in this module: the figures of the whole run (printed with -s; a missing operation fails)."""
    tested = {(kind, *label.split(" ", 1)) for kind, label in CASES}
    assert tested == set(OPERATIONS)
    per_kind = Counter(dict.fromkeys(("session", "apiKey"), 0))
    for (kind, _), count in CASES.items():
        per_kind[kind] += count
    print(
        f"schemathesis: {len(OPERATIONS)} operation runs ({len({o[1:] for o in OPERATIONS})} operations), "
        f"{sum(CASES.values())} cases {dict(per_kind)}, {sum(FAILURES.values())} failures, "
        f"{len(NO_NEGATIVE)} runs without a negative case"
    )
    assert sum(FAILURES.values()) == 0


def _with_body() -> list[tuple[str, str]]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    )


OVERSIZED = b'{"name": "' + b"x" * 70_000 + b'"}'
SIGNED = frozenset({("POST", "/v1/billing/events"), ("POST", "/v1/carriers/{carrier}/events")})
HOSTILE_BODIES = {
    "not UTF-8": (b'{"name": "\xe2\x28\xa1"}', "application/json", 400),
    "nested 10,000 deep": (b"[" * 10_000 + b"]" * 10_000, "application/json", 400),
    "an odd media type": (b"<a/>", "application/vnd.evil+xml", 415),
    "over 64 KiB": (OVERSIZED, "application/json", 413),
}


def _expected(method: str, template: str, name: str, raw: bytes, status: int) -> tuple[int, str | None]:
    """(status, code): a JSON body the route's request model refuses is the gateway's 400 `invalid_body`, whatever
    its size (API Gateway validates up to its own 10 MB limit); the handler answers only what the model admits."""
    model = request_models.committed().get((method, template))
    if name == "an odd media type" and (method, template) in SIGNED:
        # Signed bodies are verified before their form is read: unsigned is 401 (an unknown carrier is 404).
        return (404 if "{carrier}" in template else 401), None
    if model is None or name == "an odd media type":  # no model for that media type: the handler's 415
        return status, None
    try:
        admitted = Draft4Validator(model.schema).is_valid(json.loads(raw))
    except (ValueError, RecursionError):
        admitted = False
    return (status, None) if admitted else (400, "invalid_body")


@pytest.mark.parametrize("operation", _with_body(), ids=" ".join)
def test_hostile_bodies_are_4xx_problems_on_every_route_with_a_body(
    stack: LocalStack, credentials: dict[str, Credential], operation: tuple[str, str]
) -> None:
    method, template = operation
    path = template.replace("{", "").replace("}", "")  # any value: the body is refused before the route runs
    auth = {"Authorization": f"Bearer {credentials['session'].token}"}
    for name, (raw, content_type, handler_status) in HOSTILE_BODIES.items():
        time.sleep(1 / 15)  # below the free plan's rate, as the fuzzing run
        answer = stack.request(method, path, raw=raw, headers={**auth, "Content-Type": content_type})
        status, code = _expected(method, template, name, raw, handler_status)
        assert answer.status == status, (name, answer.body[:300])
        assert answer.headers["Content-Type"] == "application/problem+json", name
        assert answer.json()["status"] == status
        if code is not None:
            assert answer.json()["code"] == code, name


@pytest.mark.parametrize("query", ["limit=%FF%FE", "limit=-1", "limit=1e3", "limit=" + "9" * 40, "cursor=%00%01"])
def test_odd_query_values_are_4xx_problems(stack: LocalStack, credentials: dict[str, Credential], query: str) -> None:
    auth = {"Authorization": f"Bearer {credentials['session'].token}"}
    for path in ("/v1/recipients", "/v1/messages", "/v1/audit-events"):
        time.sleep(1 / 15)
        answer = stack.request("GET", f"{path}?{query}", headers=auth)
        assert answer.status in {400, 422}, (path, answer.body[:300])
        assert answer.headers["Content-Type"] == "application/problem+json"
