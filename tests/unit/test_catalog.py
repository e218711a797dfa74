"""The catalog is consistent: every function has a handler, routes follow API.md's conventions, names are unique."""

import importlib
import typing
from pathlib import Path

import pytest

from switchboard import catalog

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_names_are_unique() -> None:
    for things in (catalog.TABLES, catalog.QUEUES, catalog.SECRETS):
        ids = [thing.id for thing in things]
        envs = [thing.env for thing in things]
        assert len(ids) == len(set(ids))
        assert len(envs) == len(set(envs))
    assert len({f.name for f in catalog.FUNCTIONS}) == len(catalog.FUNCTIONS)


@pytest.mark.parametrize("function", catalog.FUNCTIONS, ids=lambda f: f.name)
def test_catalog_function_has_a_handler_folder(function: catalog.Function) -> None:
    assert (ROOT / "functions" / function.code / "handler.py").is_file()
    module = importlib.import_module(f"functions.{function.code}.handler")
    assert callable(module.lambda_handler)


def test_catalog_routes_are_unique_and_follow_the_api_prefixes() -> None:
    keys = [(route.method, route.path) for route, _ in catalog.routes()]
    assert len(keys) == len(set(keys))
    for _, path in keys:
        assert path.startswith(("/v1/", "/status", "/.well-known/")) or catalog.in_console(path), path
        assert "_local" not in path


def test_catalog_console_is_public_html_with_no_data_grant() -> None:
    # The console reaches data only through the public API over HTTP with the person's own token (docs/console.md).
    console = catalog.function("console")
    assert {(r.method, r.path) for r in console.routes} == {
        ("GET", "/console"),
        ("GET", "/console/{proxy+}"),
        ("POST", "/console/{proxy+}"),
    }
    assert all(r.auth is catalog.Auth.PUBLIC and catalog.in_console(r.path) for r in console.routes)
    assert not (console.tables or console.queues or console.buckets or console.consumes)
    # One secret, read only: the key it vouches for the browser's address with (switchboard.crypto.client_ip).
    assert dict(console.secrets) == {catalog.CONSOLE_FORWARDING: catalog.Access.READ}
    readers = {fn.name for fn in catalog.FUNCTIONS if catalog.CONSOLE_FORWARDING in fn.secrets}
    assert readers == catalog.CONSOLE_CALLS | {"console"}
    assert all(
        fn.secrets[catalog.CONSOLE_FORWARDING] is catalog.Access.READ for fn in catalog.FUNCTIONS if fn.name in readers
    )
    assert not (console.uses_data_key or console.sends_email or console.verifies_audit or console.audit_anchors)
    assert [fn.name for route, fn in catalog.routes() if catalog.in_console(route.path)] == ["console"] * 3
    assert all(not catalog.in_console(route.path) for route, _ in catalog.json_routes())


def test_catalog_references_only_known_tables_queues_and_secrets() -> None:
    tables = {t.id for t in catalog.TABLES}
    queues = {q.id for q in catalog.QUEUES}
    secrets = {s.id for s in catalog.SECRETS}
    for function in catalog.FUNCTIONS:
        assert set(function.tables) <= tables
        assert set(function.queues) <= queues
        assert set(function.secrets) <= secrets
        assert function.consumes is None or function.consumes in queues


def test_catalog_purge_job_never_touches_the_audit_trail() -> None:
    assert "Audit" not in catalog.function("purge_job").tables


@pytest.mark.parametrize(
    ("every_s", "expression"),
    [(60, "rate(1 minute)"), (3600, "rate(1 hour)"), (7200, "rate(2 hours)"), (86400, "rate(1 day)")],
)
def test_catalog_schedule_expression(every_s: int, expression: str) -> None:
    assert catalog.Schedule("job", every_s).expression == expression


def test_catalog_schedule_rejects_seconds() -> None:
    with pytest.raises(ValueError, match="whole number of minutes"):
        _ = catalog.Schedule("job", 90).expression


def test_catalog_non_public_routes_have_the_authorizer() -> None:
    guarded = [route for route, _ in catalog.routes() if route.auth is not catalog.Auth.PUBLIC]
    assert not guarded or catalog.authorizer() is not None
    assert catalog.authorizer().name == catalog.AUTHORIZER and not catalog.authorizer().routes
    assert catalog.AUTHORIZER_CACHE_TTL_S == 0


def test_catalog_channel_carriers_are_the_carriers_that_serve_each_channel() -> None:
    from switchboard.carriers import plivo, twilio, whatsapp  # noqa: PLC0415

    serving = {c: {m.NAME for m in (plivo, twilio, whatsapp) if c in m.CHANNELS} for c in catalog.CHANNELS}
    assert {c: {n.lower() for n in carriers} for c, carriers in catalog.CHANNEL_CARRIERS.items()} == serving
    for channel in catalog.CHANNELS:
        worker = catalog.function(f"{channel}_send_worker")
        assert set(worker.secrets) == {f"{carrier}Credentials" for carrier in catalog.CHANNEL_CARRIERS[channel]}
        assert "BillingCredentials" not in worker.secrets
    assert "BillingCredentials" not in catalog.function("carrier_events").secrets


def test_one_list_of_channels_and_of_statuses_serves_every_module() -> None:
    from switchboard.carriers import routing, sandbox, twilio  # noqa: PLC0415
    from switchboard.models import message_status, status  # noqa: PLC0415

    assert catalog.CHANNELS == typing.get_args(catalog.Channel) == ("sms", "whatsapp", "voice")
    assert ("api", *catalog.CHANNELS, "webhooks") == status.COMPONENTS
    assert twilio.CHANNELS == sandbox.CHANNELS == frozenset(catalog.CHANNELS)
    assert set(routing.ROUTES) == set(catalog.CHANNEL_CARRIERS) == set(catalog.CHANNELS)
    assert {q.env for q in catalog.QUEUES} >= {f"{c.upper()}_QUEUE_URL" for c in catalog.CHANNELS}
    assert set(message_status.MESSAGE_STATUSES) == set(message_status.RANK)
    assert set(message_status.MESSAGE_STATUSES) > message_status.FINAL
