"""Locally a function reaches only what its catalog entry grants: a missing grant fails here as it would deployed."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from types import MappingProxyType

import pytest

from local import lambdas
from local.gateway import Gateway, Request
from local.lambdas import Invoker
from switchboard import catalog, settings
from tests.integration.identity.support import PASSWORD, register

EMAIL = "strict@example.com"


def _gateway(identity_api: catalog.Function) -> Gateway:
    """The local gateway over this process's moto account, every function with only its own variables."""
    functions = [identity_api if fn.name == identity_api.name else fn for fn in catalog.FUNCTIONS]
    environments = {fn.name: lambdas.environment_from(fn, os.environ) for fn in functions}
    routes = [(route, fn) for fn in functions for route in fn.routes]
    return Gateway(invoker=Invoker(environments=environments), routes=routes, port=0)


def _login(gateway: Gateway) -> tuple[int, dict[str, object]]:
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    answer = gateway.dispatch(Request("POST", "/v1/sessions", [("Content-Type", "application/json")], body))
    return answer.status, json.loads(answer.body)


def _without(spec: catalog.Function, *, table: str | None = None, secret: str | None = None) -> catalog.Function:
    tables = MappingProxyType({k: v for k, v in spec.tables.items() if k != table})
    secrets = MappingProxyType({k: v for k, v in spec.secrets.items() if k != secret})
    return replace(spec, tables=tables, secrets=secrets)


def test_a_function_without_a_grant_cannot_reach_the_resource(identity: dict[str, str]) -> None:
    register(EMAIL)
    granted = catalog.function("identity_api")
    # With its grants the login works: it also leaves the peppers in the process's secret cache.
    status, body = _login(_gateway(granted))
    assert status == 201, body
    # Without one grant it gets no variable for the resource, as deployed: the route fails (500, nothing leaks),
    # even though the process environment and the caches of other invocations know the resource.
    for table, secret in (("Sessions", None), ("Accounts", None), (None, "Peppers")):
        status, body = _login(_gateway(_without(granted, table=table, secret=secret)))
        assert (status, body["code"]) == (500, "internal_error"), (table, secret)
    assert "ACCOUNTS_TABLE" in os.environ and "PEPPERS_SECRET" in os.environ
    status, body = _login(_gateway(granted))
    assert status == 201, body


def test_each_function_scope_holds_exactly_its_variables(identity: dict[str, str]) -> None:
    for spec in catalog.FUNCTIONS:
        environment = lambdas.environment_from(spec, os.environ)
        with settings.scope(environment) as scoped:
            assert set(scoped.tables) == {catalog.table(t).env for t in spec.tables}
            granted = {catalog.secret(s).env for s in catalog.in_stage(spec, "local").secrets}
            assert set(scoped.secrets) == granted & set(os.environ)  # this test's account has only the peppers
            assert ("PEPPERS_SECRET" in scoped.secrets) is ("Peppers" in spec.secrets)
            assert bool(scoped.data_key_id) is spec.uses_data_key
            assert scoped.service == spec.name
    # Outside any function scope (test setup, local tooling) the process environment applies.
    assert settings.current_scope() is None
    assert set(settings.get().tables) == {t.env for t in catalog.TABLES}


def test_a_function_without_a_known_stage_refuses_to_run(identity: dict[str, str]) -> None:
    health = Request("GET", "/v1/health")
    assert _gateway(catalog.function("identity_api")).dispatch(health).status == 200
    for stage in ("", "staging"):
        environment = {**lambdas.environment_from(catalog.function("public_api"), os.environ), "STAGE": stage}
        if not stage:
            del environment["STAGE"]
        with pytest.raises(settings.UnknownStage, match="STAGE is"), settings.scope(environment):
            pytest.fail("a scope without a known stage was entered")
        # Through the gateway the function fails to start: API Gateway answers 502, the handler never runs.
        routes = [(route, fn) for route, fn in catalog.routes() if fn.name == "public_api"]
        gateway = Gateway(invoker=Invoker(environments={"public_api": environment}), routes=routes, port=0)
        assert gateway.dispatch(health).status == 502
