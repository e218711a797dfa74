"""`make edge` through the official SDK against a fake Cloudflare API on loopback: plan, apply, idempotence, drift."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import edge_cloudflare
from infra.constructs.edge import CONSOLE_CREDENTIAL_PAGES, callback_routes, credential_routes
from tests.certificates import write_self_signed
from tests.integration import cloudflare_fake
from tests.integration.cloudflare_fake import TOKEN, ZONE_ID, FakeCloudflare

CONFIG = edge_cloudflare.stage_config("dev")
ORIGIN = "d-abc123xyz.execute-api.eu-west-1.amazonaws.com"
ACM = ("_3f1e2d.api.dev.switchboard.example.", "_9a8b7c.mhbtsbpdnt.acm-validations.aws.")
DKIM = ("tok1abc", "tok2def", "tok3ghi")
HOST = CONFIG.domain_name


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with cloudflare_fake.serve() as running:
        yield running


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """An inputs file as an operator writes it, with a client certificate of our own (self-signed here)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now, now + datetime.timedelta(days=365))
    write_self_signed(tmp_path / "aop.pem", tmp_path / "aop.key", "Switchboard AOP client", valid=valid)
    data = {
        "origin_target": ORIGIN,
        "certificate_validation": [{"name": ACM[0], "value": ACM[1]}],
        "dkim_tokens": list(DKIM),
        "aop_certificate": "aop.pem",
        "aop_private_key": "aop.key",
    }
    path = tmp_path / "edge-inputs.json"
    path.write_text(json.dumps(data))
    return path


def planner(fake: FakeCloudflare, inputs: Path) -> edge_cloudflare.Planner:
    client = edge_cloudflare.client(TOKEN, fake.base_url)
    return edge_cloudflare.Planner(client, CONFIG, edge_cloudflare.Inputs.from_file(inputs))


def subjects(plan: edge_cloudflare.Plan) -> list[str]:
    return [f"{c.action} {c.subject}" for c in plan.changes]


EVERY_CHANGE = [
    f"create DNS CNAME {HOST} (API origin)",
    f"create DNS CNAME {ACM[0].rstrip('.')} (ACM certificate validation)",
    *(f"create DNS CNAME {token}._domainkey.switchboard.example (SES DKIM)" for token in DKIM),
    "update zone setting ssl",
    "update zone setting min_tls_version",
    "update zone setting always_use_https",
    "update zone setting security_header",
    "upload AOP client certificate",
    f"create AOP for {HOST}",
    f"create rate rule {edge_cloudflare.RATE_RULE_REF}",
]


def test_plan_on_an_empty_zone_lists_every_change_and_writes_nothing(fake: FakeCloudflare, inputs: Path) -> None:
    plan = planner(fake, inputs).plan()
    assert plan.zone_id == ZONE_ID
    assert subjects(plan) == EVERY_CHANGE
    assert plan.notes == []
    assert fake.writes() == []
    # The fresh zone already has TLS 1.3 on: not a change. Every request carried the token and nothing else.
    assert all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in fake.seen)
    assert not any("X-Auth-Key" in s.headers or "X-Auth-Email" in s.headers for s in fake.seen)
    first = fake.seen[0]
    assert (first.method, first.path, first.query.get("name")) == ("GET", "/zones", ["switchboard.example"])


def test_apply_makes_every_change_with_the_expected_requests(fake: FakeCloudflare, inputs: Path) -> None:
    edge_cloudflare.apply(planner(fake, inputs).plan())

    zone = f"/zones/{ZONE_ID}"
    writes = [(s.method, s.path) for s in fake.writes()]
    assert writes == [
        *[("POST", f"{zone}/dns_records")] * 5,
        ("PATCH", f"{zone}/settings/ssl"),
        ("PATCH", f"{zone}/settings/min_tls_version"),
        ("PATCH", f"{zone}/settings/always_use_https"),
        ("PATCH", f"{zone}/settings/security_header"),
        ("POST", f"{zone}/origin_tls_client_auth/hostnames/certificates"),
        ("PUT", f"{zone}/origin_tls_client_auth/hostnames"),
        ("PUT", f"{zone}/rulesets/phases/http_ratelimit/entrypoint"),
    ]
    bodies = {(s.method, s.path): s.body for s in fake.writes()}
    assert bodies[("PATCH", f"{zone}/settings/ssl")] == {"value": "strict"}
    assert bodies[("PATCH", f"{zone}/settings/min_tls_version")] == {"value": "1.2"}
    assert bodies[("PATCH", f"{zone}/settings/always_use_https")] == {"value": "on"}
    origin = next(s.body for s in fake.writes() if s.body and s.body.get("name") == HOST)
    assert origin == {"name": HOST, "type": "CNAME", "content": ORIGIN, "proxied": True, "ttl": 1}
    association = bodies[("PUT", f"{zone}/origin_tls_client_auth/hostnames")]
    assert association == {"config": [{"hostname": HOST, "cert_id": fake.certificates[0]["id"], "enabled": True}]}
    assert all(s.headers.get("Content-Type") == "application/json" for s in fake.writes())
    records = {(r["name"], r["content"], r["proxied"], r["ttl"]) for r in fake.records}
    assert records == {
        (HOST, ORIGIN, True, 1),
        (ACM[0].rstrip("."), ACM[1].rstrip("."), False, 1),
        *((f"{t}._domainkey.switchboard.example", f"{t}.dkim.amazonses.com", False, 1) for t in DKIM),
    }
    assert fake.settings["ssl"] == "strict"
    assert fake.settings["min_tls_version"] == "1.2"
    assert fake.settings["tls_1_3"] == "on"
    assert fake.settings["always_use_https"] == "on"
    hsts = fake.settings["security_header"]["strict_transport_security"]
    assert hsts == {"enabled": True, "max_age": 31536000, "include_subdomains": True, "preload": False, "nosniff": True}
    (certificate,) = fake.certificates
    assert certificate["certificate"] == (inputs.parent / "aop.pem").read_text()
    assert certificate["private_key"] == (inputs.parent / "aop.key").read_text()
    assert fake.hostnames == {HOST: {"hostname": HOST, "cert_id": certificate["id"], "enabled": True}}
    (rule,) = fake.rate_rules or []
    assert rule["ref"] == edge_cloudflare.RATE_RULE_REF
    assert rule["action"] == "block"
    assert rule["ratelimit"]["characteristics"] == ["cf.colo.id", "ip.src"]
    assert rule["ratelimit"]["requests_per_period"] == CONFIG.cloudflare_credential_requests
    assert rule["ratelimit"]["period"] == CONFIG.cloudflare_rate_period_s
    # The expression names every public credential route of the catalog and no provider callback.
    for route in credential_routes():
        if route.auth.value == "public":
            assert f'"{route.path}"' in rule["expression"]
    # And the console's sign-in and recovery forms, which browsers post from their own address.
    for path in CONSOLE_CREDENTIAL_PAGES:
        assert f'"{path}"' in rule["expression"]
    assert '"/console/{proxy+}"' not in rule["expression"]
    for route in callback_routes():
        assert route.path.split("{")[0].rstrip("/") not in rule["expression"]


def test_a_second_plan_after_apply_is_empty(fake: FakeCloudflare, inputs: Path) -> None:
    edge_cloudflare.apply(planner(fake, inputs).plan())
    before = len(fake.seen)
    plan = planner(fake, inputs).plan()
    assert plan.changes == []
    assert all(s.method == "GET" for s in fake.seen[before:])


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (lambda f: f.settings.update(ssl="full"), "update zone setting ssl"),
        (lambda f: f.settings.update(min_tls_version="1.0"), "update zone setting min_tls_version"),
        (lambda f: f.settings.update(tls_1_3="off"), "update zone setting tls_1_3"),
        (
            lambda f: f.settings["security_header"]["strict_transport_security"].update(max_age=300),
            "update zone setting security_header",
        ),
        (lambda f: next(r for r in f.records if r["name"] == HOST).update(proxied=False), f"update DNS CNAME {HOST}"),
        (lambda f: f.hostnames[HOST].update(enabled=False), f"update AOP for {HOST}"),
        (lambda f: (f.rate_rules or [])[0]["ratelimit"].update(requests_per_period=1000), "update rate rule"),
    ],
)
def test_a_drifted_setting_is_exactly_one_change(fake: FakeCloudflare, inputs: Path, drift: Any, expected: str) -> None:
    edge_cloudflare.apply(planner(fake, inputs).plan())
    drift(fake)
    plan = planner(fake, inputs).plan()
    assert len(plan.changes) == 1
    assert subjects(plan)[0].startswith(expected)
    edge_cloudflare.apply(plan)
    assert planner(fake, inputs).plan().changes == []


def test_other_rate_rules_of_the_zone_are_kept(fake: FakeCloudflare, inputs: Path) -> None:
    theirs = {
        "id": "a" * 32,
        "ref": "marketing_site",
        "description": "someone else's rule",
        "expression": '(http.request.uri.path eq "/contact")',
        "action": "block",
        "enabled": True,
        "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": 10, "requests_per_period": 5},
    }
    fake.rate_rules = [theirs]
    edge_cloudflare.apply(planner(fake, inputs).plan())
    kept = [r for r in fake.rate_rules or [] if r["ref"] == "marketing_site"]
    assert kept == [{**theirs, "version": "1"}]
    assert {r["ref"] for r in fake.rate_rules or []} == {"marketing_site", edge_cloudflare.RATE_RULE_REF}


def test_an_uploaded_certificate_is_reused_not_uploaded_again(fake: FakeCloudflare, inputs: Path) -> None:
    edge_cloudflare.apply(planner(fake, inputs).plan())
    del fake.hostnames[HOST]
    plan = planner(fake, inputs).plan()
    assert subjects(plan) == [f"create AOP for {HOST}"]
    edge_cloudflare.apply(plan)
    assert len(fake.certificates) == 1


def test_missing_inputs_are_reported_not_guessed(fake: FakeCloudflare, tmp_path: Path) -> None:
    empty = tmp_path / "none.json"
    empty.write_text("{}")
    plan = planner(fake, empty).plan()
    assert subjects(plan) == [
        "update zone setting ssl",
        "update zone setting min_tls_version",
        "update zone setting always_use_https",
        "update zone setting security_header",
        f"create rate rule {edge_cloudflare.RATE_RULE_REF}",
    ]
    assert len(plan.notes) == 4
    assert any("origin_target" in note for note in plan.notes)
    assert any("aop_certificate" in note for note in plan.notes)


def test_make_edge_prints_the_plan_and_applies_only_when_asked(
    fake: FakeCloudflare, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": fake.base_url}
    assert edge_cloudflare.main(["--stage", "dev", "--inputs", str(inputs)], environ=environ) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        f"Cloudflare zone switchboard.example ({ZONE_ID}), stage dev: {len(EVERY_CHANGE)} changes"
    )
    assert "~ update zone setting ssl: full -> strict" in printed
    assert "make edge STAGE=dev APPLY=1" in printed
    assert "PRIVATE KEY" not in printed
    assert fake.writes() == []
    assert edge_cloudflare.main(["--stage", "dev", "--inputs", str(inputs), "--apply"], environ=environ) == 0
    assert f"Applied {len(EVERY_CHANGE)} changes." in capsys.readouterr().out
    assert edge_cloudflare.main(["--stage", "dev", "--inputs", str(inputs)], environ=environ) == 0
    assert "0 changes" in capsys.readouterr().out


def test_without_a_token_it_stops_with_a_clear_error_and_calls_nothing(
    fake: FakeCloudflare, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"CLOUDFLARE_BASE_URL": fake.base_url, "CLOUDFLARE_API_KEY": "global-key", "CLOUDFLARE_EMAIL": "a@b.c"}
    assert edge_cloudflare.main(["--stage", "dev", "--inputs", str(inputs)], environ=environ) == 2
    error = capsys.readouterr().err
    assert "CLOUDFLARE_API_TOKEN is not set" in error
    assert fake.seen == []


def test_a_refused_token_is_a_clear_error(
    fake: FakeCloudflare, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"CLOUDFLARE_API_TOKEN": "wrong", "CLOUDFLARE_BASE_URL": fake.base_url}
    assert edge_cloudflare.main(["--stage", "dev", "--inputs", str(inputs)], environ=environ) == 1
    assert "Cloudflare refused a request" in capsys.readouterr().err
    assert fake.writes() == []


def test_the_token_is_never_an_argument() -> None:
    with pytest.raises(SystemExit):
        edge_cloudflare.parse_args(["--token", TOKEN])
