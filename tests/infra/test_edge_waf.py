"""The WAF per route class, evaluated on the synthesized web ACL for every catalog route; the drift job's alarms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.constructs import edge
from switchboard import api, catalog
from switchboard.logic import edge_drift
from switchboard.models import plans
from switchboard.models.recipients import MAX_LIST_ADD
from tests.infra.conftest import STAGES, Assembly

# What the issue names as credential routes; the derivation from the catalog must include each of them.
NAMED_CREDENTIAL_ROUTES = {
    ("POST", "/v1/sessions"),
    ("POST", "/v1/signup"),
    ("POST", "/v1/password-resets"),
    ("POST", "/v1/password-resets/confirm"),
    ("POST", "/v1/email-verifications"),
    ("POST", "/v1/invitations/accept"),
    ("POST", "/v1/account/restore"),
    ("POST", "/v1/sessions/current/reauth"),
    ("POST", "/v1/me/password"),
}
# WAF counts over 5 minutes; the plans' buckets are per second.
WINDOW_S = 300
INSPECTION_KB = {"KB_16": 16, "KB_32": 32, "KB_48": 48, "KB_64": 64}


def _sample_path(template: str) -> str:
    return re.sub(r"\{[^/]+\}", "abc_123", template)


def _matches(statement: dict[str, Any], method: str, path: str) -> bool:
    """Evaluate the subset of WAF statements our scope-downs use (after CFN's PascalCase) for one request."""
    if "AndStatement" in statement:
        return all(_matches(s, method, path) for s in statement["AndStatement"]["Statements"])
    if "OrStatement" in statement:
        return any(_matches(s, method, path) for s in statement["OrStatement"]["Statements"])
    if "NotStatement" in statement:
        return not _matches(statement["NotStatement"]["Statement"], method, path)
    if "ByteMatchStatement" in statement:
        byte = statement["ByteMatchStatement"]
        assert byte["FieldToMatch"] == {"Method": {}}
        assert byte["PositionalConstraint"] == "EXACTLY"
        return method == byte["SearchString"]
    if "RegexMatchStatement" in statement:
        regex = statement["RegexMatchStatement"]
        assert regex["FieldToMatch"] == {"UriPath": {}}
        types = [t["Type"] for t in sorted(regex["TextTransformations"], key=lambda t: t["Priority"])]
        assert types == ["URL_DECODE", "NORMALIZE_PATH"]
        return re.search(regex["RegexString"], path) is not None
    raise AssertionError(f"unexpected statement {statement}")


def _rules(assembly: Assembly, stage: str) -> dict[str, dict[str, Any]]:
    ((_, acl),) = assembly.resources(stage, "AWS::WAFv2::WebACL").items()
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


def _covered(rule: dict[str, Any]) -> set[tuple[str, str]]:
    scope = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    return {(r.method, r.path) for r, _ in catalog.routes() if _matches(scope, r.method, _sample_path(r.path))}


def _keys(routes: list[catalog.Route]) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in routes}


def test_route_classes_come_from_the_catalog() -> None:
    credential, callbacks = _keys(edge.credential_routes()), _keys(edge.callback_routes())
    assert credential >= NAMED_CREDENTIAL_ROUTES
    assert not credential & callbacks
    every = {(r.method, r.path) for r, _ in catalog.routes()}
    assert credential <= every
    assert callbacks == {(r.method, r.path) for r, fn in catalog.routes() if fn.name.endswith("_events")}
    assert all(method != "GET" for method, _ in credential)
    # Every public route that takes a body and is not a signed callback is a credential route, except the
    # console's forms: its credential pages are named one by one (test_console_credential_forms_...).
    public_writes = {
        (r.method, r.path)
        for r, _ in catalog.routes()
        if r.auth is catalog.Auth.PUBLIC and r.method != "GET" and not catalog.in_console(r.path)
    }
    assert public_writes - callbacks <= credential


def test_console_credential_forms_are_exactly_the_consoles_password_and_token_pages() -> None:
    import switchboard.console.pages  # noqa: F401, PLC0415 - registers the pages
    from switchboard.console import app  # noqa: PLC0415

    posts = {route.pattern.pattern for route in app._ROUTES if route.method == "POST"}
    public_posts = {r.pattern.pattern for r in app._ROUTES if r.method == "POST" and not r.signed_in}
    pages = {f"^{re.escape(path)}$" for path in edge.CONSOLE_CREDENTIAL_PAGES}
    assert pages <= posts  # each one is a form the console serves
    assert public_posts | {f"^{re.escape('/console/reauth')}$"} <= pages  # and every form a stranger may post


@pytest.mark.parametrize("stage", STAGES)
def test_console_credential_forms_get_the_strict_per_client_limit(assembly: Assembly, stage: str) -> None:
    scope = _rules(assembly, stage)["CredentialRatePerClientIp"]["Statement"]["RateBasedStatement"]
    scope = scope["ScopeDownStatement"]
    for path in edge.CONSOLE_CREDENTIAL_PAGES:
        assert _matches(scope, "POST", path) and _matches(scope, "POST", path + "/"), path
        assert not _matches(scope, "GET", path), path
    for other in ("/console/api-keys", "/console/logout", "/console/login/x", "/console/loginx"):
        assert not _matches(scope, "POST", other), other


@pytest.mark.parametrize("stage", STAGES)
def test_credential_routes_get_a_strict_per_client_limit_scoped_by_path(assembly: Assembly, stage: str) -> None:
    rule = _rules(assembly, stage)["CredentialRatePerClientIp"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["RateBasedStatement"]["Limit"] == assembly.configs[stage].waf_auth_rate_limit_per_ip
    assert _covered(rule) == _keys(edge.credential_routes())
    scope = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    # A trailing slash (API Gateway serves it) does not escape the rule; a longer path is not a credential route.
    assert _matches(scope, "POST", "/v1/sessions/")
    assert not _matches(scope, "POST", "/v1/sessionsx")
    assert not _matches(scope, "GET", "/v1/sessions")


@pytest.mark.parametrize("stage", STAGES)
def test_provider_callbacks_are_exempt_from_the_api_limit_and_get_their_own(assembly: Assembly, stage: str) -> None:
    config, rules = assembly.configs[stage], _rules(assembly, stage)
    callbacks = _keys(edge.callback_routes())
    assert _covered(rules["CallbackRatePerClientIp"]) == callbacks
    general = rules["RatePerClientIp"]
    assert _covered(general) == {(r.method, r.path) for r, _ in catalog.routes()} - callbacks
    # Three status callbacks per message at the busiest plan's account rate, all from one carrier address.
    busiest = max(p.per_account.rate_per_s for p in plans.PLANS.values())
    assert rules["CallbackRatePerClientIp"]["Statement"]["RateBasedStatement"]["Limit"] >= 3 * busiest * WINDOW_S
    assert config.waf_callback_rate_limit_per_ip >= 3 * busiest * WINDOW_S


@pytest.mark.parametrize("stage", STAGES)
def test_the_per_client_limit_never_cuts_a_customer_below_its_plan(assembly: Assembly, stage: str) -> None:
    limit = _rules(assembly, stage)["RatePerClientIp"]["Statement"]["RateBasedStatement"]["Limit"]
    for plan in plans.PLANS.values():
        # One customer's whole account from one address, at its steady rate plus a full burst, in one window.
        assert limit >= plan.per_account.rate_per_s * WINDOW_S + plan.per_account.burst, plan.name
        assert limit >= plan.per_key.rate_per_s * WINDOW_S, plan.name
    assert limit >= 200 * WINDOW_S  # the enterprise key rate the issue names: 60,000 per 5 minutes


@pytest.mark.parametrize("stage", STAGES)
def test_bodies_up_to_the_api_limit_pass_and_larger_ones_are_blocked(assembly: Assembly, stage: str) -> None:
    ((_, acl),) = assembly.resources(stage, "AWS::WAFv2::WebACL").items()
    inspection = acl["Properties"]["AssociationConfig"]["RequestBody"]["API_GATEWAY"]["DefaultSizeInspectionLimit"]
    assert INSPECTION_KB[inspection] * 1024 >= api.MAX_BODY_BYTES
    rules = _rules(assembly, stage)
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    size = rules["BodyLargerThanApiLimit"]
    assert size["Action"] == {"Block": {}}
    # Every route but the file uploads (tests/infra/test_files_bucket.py), which bound their own bodies.
    limit, exempt = size["Statement"]["AndStatement"]["Statements"]
    covered = {(r.method, r.path) for r, _ in catalog.routes() if _matches(exempt, r.method, _sample_path(r.path))}
    assert covered == {(r.method, r.path) for r, _ in catalog.routes()} - set(catalog.RAW_BODIES)
    constraint = limit["SizeConstraintStatement"]
    assert constraint["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert constraint["ComparisonOperator"] == "GT"
    assert constraint["Size"] == api.MAX_BODY_BYTES == edge.MAX_BODY_BYTES
    # The largest legitimate list add (500 recipient ids) is far above the managed rule's 8 KB and passes ours.
    body = json.dumps({"recipient_ids": [f"rcp_{'0' * 26}" for _ in range(MAX_LIST_ADD)]}).encode()
    assert 8 * 1024 < len(body) <= constraint["Size"]


@pytest.mark.parametrize("stage", STAGES)
def test_no_global_method_throttle_on_credential_routes(assembly: Assembly, stage: str) -> None:
    stages = assembly.resources(stage, "AWS::ApiGateway::Stage").values()
    assert len(stages) == len(catalog.Api)  # the customer API's, the links API's and the console's
    for api_stage in stages:
        throttled = [m for m in api_stage["Properties"]["MethodSettings"] if "ThrottlingRateLimit" in m]
        assert [(m["ResourcePath"], m["HttpMethod"]) for m in throttled] == [("/*", "*")]


@pytest.mark.parametrize("stage", STAGES)
def test_drift_job_runs_daily_as_its_own_service_and_alarms_on_drift_and_failure(
    assembly: Assembly, stage: str
) -> None:
    spec = catalog.function(edge.DRIFT_JOB)
    assert spec.schedule is catalog.EDGE_DRIFT
    assert not spec.tables and not spec.queues and not spec.secrets and not spec.uses_data_key
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    (job_id,) = [k for k in functions if k.startswith("EdgeDriftJob")]
    variables = functions[job_id]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == edge.DRIFT_JOB
    assert "CLOUDFLARE_IPS_URL" not in variables  # deployed: Cloudflare's own HTTPS endpoint
    rules = assembly.resources(stage, "AWS::Events::Rule").values()
    (rule,) = [r for r in rules if job_id in json.dumps(r["Properties"]["Targets"])]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 day)"
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in assembly.resources(stage, "AWS::CloudWatch::Alarm").values()
        if "MetricName" in a["Properties"]
    }
    for metric in (edge_drift.DRIFT_METRIC, edge_drift.CHECK_FAILED_METRIC):
        alarm = alarms[metric]
        assert alarm["Namespace"] == "Switchboard"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": edge.DRIFT_JOB}]
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"]


def test_infra_copies_equal_the_shared_package() -> None:
    assert edge.MAX_BODY_BYTES == api.MAX_BODY_BYTES
    assert (edge.DRIFT_METRIC, edge.DRIFT_CHECK_FAILED_METRIC) == (
        edge_drift.DRIFT_METRIC,
        edge_drift.CHECK_FAILED_METRIC,
    )
    assert edge.CLOUDFLARE_IPS_FILE.resolve() == edge_drift.DEPLOYED_FILE.resolve()
    assert edge_drift.deployed_ranges() == set(edge.cloudflare_ranges())
