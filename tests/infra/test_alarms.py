"""The alarms that mean something (docs/alarms.md): each one's metric, threshold, action and runbook, the KMS
deletion rule, the SES configuration set, the dashboard and the canary, in both stages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.constructs import alarms
from infra.constructs.canary import HANDLER
from infra.environment import mail_configuration_set_name
from switchboard import catalog, signals
from tests.infra.conftest import ROOT, STAGES, Assembly

RUNBOOKS = (ROOT / "docs" / "runbooks.md").read_text()


def _api(assembly: Assembly, stage: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in assembly.template(stage, "api")["Resources"].items() if r["Type"] == resource_type}


def _alarm(assembly: Assembly, stage: str, prefix: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for i, r in _api(assembly, stage, "AWS::CloudWatch::Alarm").items()
        if re.fullmatch(rf"{prefix}[0-9A-F]{{8}}", i)
    ]
    return found


def _stats(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Query id -> MetricStat of a metric-math alarm."""
    return {q["Id"]: q["MetricStat"] for q in props["Metrics"] if "MetricStat" in q}


def _expression(props: dict[str, Any]) -> str:
    (expression,) = [q["Expression"] for q in props["Metrics"] if "Expression" in q]
    return str(expression)


def _dimensions(stat: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])}


def _slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_anchor_the_alarms_link_exists() -> None:
    anchors = {_slug(line.lstrip("#")) for line in RUNBOOKS.splitlines() if line.startswith("#")}
    assert set(alarms.ANCHORS.values()) <= anchors


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_says_why_and_links_its_runbook(assembly: Assembly, stage: str) -> None:
    found = {
        **assembly.resources(stage, "AWS::CloudWatch::Alarm"),
        **assembly.resources(stage, "AWS::CloudWatch::CompositeAlarm"),
    }
    assert len(found) > 60
    for alarm_id, alarm in found.items():
        description = alarm["Properties"]["AlarmDescription"]
        why, _, runbook = description.partition(" Runbook: docs/runbooks.md#")
        assert len(why) > 30, alarm_id
        assert runbook in alarms.ANCHORS.values(), alarm_id


@pytest.mark.parametrize("stage", STAGES)
def test_the_authorizer_alarm_watches_only_its_internal_error_signal(assembly: Assembly, stage: str) -> None:
    # A refusal raises Unauthorized, which Lambda counts in Errors: the alarm must not watch Errors at all. What it
    # watches is never emitted on a refusal (tests/unit/test_signals.py proves the authorizer's output).
    props = _alarm(assembly, stage, "AuthorizerErrors")
    assert "Metrics" not in props
    assert (props["Namespace"], props["MetricName"]) == ("Switchboard", signals.AUTHORIZER_INTERNAL_ERRORS)
    assert props["Dimensions"] == [{"Name": "service", "Value": catalog.AUTHORIZER}]
    assert signals.CREDENTIALS_REFUSED not in json.dumps(props)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


@pytest.mark.parametrize("stage", STAGES)
def test_each_handler_alarm_adds_its_answered_500s_to_its_crashes(assembly: Assembly, stage: str) -> None:
    functions = _api(assembly, stage, "AWS::Lambda::Function")
    for name in sorted({fn.name for _, fn in catalog.routes()}):
        pascal = "".join(p.capitalize() for p in name.split("_"))
        props = _alarm(assembly, stage, f"{pascal}Errors")
        stats = _stats(props)
        assert _expression(props) == "FILL(crashes, 0) + FILL(answered, 0)"
        assert stats["crashes"]["Metric"]["MetricName"] == "Errors"
        (function_id,) = [f for f in functions if f.startswith(f"{pascal}Function")]
        assert _dimensions(stats["crashes"]) == {"FunctionName": {"Ref": function_id}}
        assert stats["answered"]["Metric"]["MetricName"] == signals.INTERNAL_ERRORS
        assert _dimensions(stats["answered"]) == {"service": name}
        assert props["Threshold"] == alarms.HANDLER_INTERNAL_ERRORS


@pytest.mark.parametrize("stage", STAGES)
def test_jobs_and_workers_alarm_on_any_lambda_error(assembly: Assembly, stage: str) -> None:
    for spec in catalog.FUNCTIONS:
        if spec.routes or spec.name == catalog.AUTHORIZER:
            continue
        props = _alarm(assembly, stage, "".join(p.capitalize() for p in spec.name.split("_")) + "Errors")
        assert (props["Namespace"], props["MetricName"], props["Threshold"]) == ("AWS/Lambda", "Errors", 1)


@pytest.mark.parametrize("stage", STAGES)
def test_the_5xx_ratio_is_5xxerror_over_count_of_this_api(assembly: Assembly, stage: str) -> None:
    props = _alarm(assembly, stage, "Api5xxRatio")
    stats = _stats(props)
    assert _expression(props) == f"IF(requests >= {alarms.MIN_REQUESTS}, errors / requests, 0)"
    assert stats["errors"]["Metric"]["MetricName"] == "5XXError"
    assert stats["requests"]["Metric"]["MetricName"] == "Count"
    for stat in stats.values():
        assert _dimensions(stat) == {"ApiName": f"switchboard-{stage}", "Stage": "live"}
        assert (stat["Period"], stat["Stat"]) == (300, "Sum")
    assert (props["Threshold"], props["ComparisonOperator"]) == (0.01, "GreaterThanThreshold")
    # The customer API's name (the links API's requests reach media_links, whose own alarms watch them).
    api = _api(assembly, stage, "AWS::ApiGateway::RestApi")[assembly.rest_api_id(stage)]
    assert api["Properties"]["Name"] == f"switchboard-{stage}"


@pytest.mark.parametrize("stage", STAGES)
def test_slo_burn_rates_page_only_when_the_long_and_the_short_window_agree(assembly: Assembly, stage: str) -> None:
    composites = _api(assembly, stage, "AWS::CloudWatch::CompositeAlarm")
    found = {}
    for name, long_s, short_s, burn in (("Fast", 3600, 300, 14.4), ("Slow", 21600, 1800, 6.0)):
        (composite,) = [c["Properties"] for i, c in composites.items() if i.startswith(f"SloBurn{name}")]
        rule = json.dumps(composite["AlarmRule"])
        assert ") AND ALARM(" in rule
        for window in (long_s, short_s):
            props = _alarm(assembly, stage, f"SloBurn{name}{window // 60}m")
            assert f'"SloBurn{name}{window // 60}m' in rule
            assert "AlarmActions" not in props
            assert props["Threshold"] == pytest.approx(burn * (1 - 0.9995))
            assert {s["Period"] for s in _stats(props).values()} == {window}
            assert "errors / requests" in _expression(props)
        found[name] = composite
    assert all(c["AlarmActions"] for c in found.values())


@pytest.mark.parametrize("stage", STAGES)
def test_latency_p99_of_the_api_and_of_each_function_behind_live(assembly: Assembly, stage: str) -> None:
    api = _alarm(assembly, stage, "ApiLatencyP99")
    assert (api["MetricName"], api["ExtendedStatistic"], api["Threshold"]) == ("Latency", "p99", alarms.API_P99_MS)
    assert api["EvaluationPeriods"] == 3
    for spec in catalog.FUNCTIONS:
        pascal = "".join(p.capitalize() for p in spec.name.split("_"))
        behind_live = bool(spec.routes or spec.consumes or spec.name == catalog.AUTHORIZER)
        latency = [i for i in _api(assembly, stage, "AWS::CloudWatch::Alarm") if i.startswith(f"{pascal}LatencyP99")]
        assert len(latency) == int(behind_live), spec.name
        if behind_live:
            props = _alarm(assembly, stage, f"{pascal}LatencyP99")
            assert (props["MetricName"], props["ExtendedStatistic"]) == ("Duration", "p99")
            assert props["Threshold"] == spec.timeout_s * 1000 * 0.8


@pytest.mark.parametrize("stage", STAGES)
def test_each_channel_queue_alarms_on_age_and_backlog(assembly: Assembly, stage: str) -> None:
    for spec in catalog.QUEUES:
        age = _alarm(assembly, stage, f"{spec.id}Age")
        backlog = _alarm(assembly, stage, f"{spec.id}Backlog")
        assert (age["MetricName"], age["Threshold"]) == ("ApproximateAgeOfOldestMessage", alarms.QUEUE_AGE_S)
        assert (backlog["MetricName"], backlog["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 5000)
        for props in (age, backlog):
            (dimension,) = props["Dimensions"]
            assert dimension["Name"] == "QueueName"
            # The queue's name, from its ARN in SSM (resolved here to the data stack's queue).
            assert f"{spec.id}Queue" in json.dumps(dimension["Value"])


@pytest.mark.parametrize("stage", STAGES)
def test_every_dlq_alarms_at_one_message(assembly: Assembly, stage: str) -> None:
    queues = assembly.resources(stage, "AWS::SQS::Queue")
    dlqs = [q for q in queues if "Dlq" in q]
    assert len(dlqs) == len(catalog.QUEUES) + len([f for f in catalog.FUNCTIONS if f.schedule]) + 1
    found = assembly.resources(stage, "AWS::CloudWatch::Alarm")
    for dlq in dlqs:
        (props,) = [a["Properties"] for a in found.values() if dlq in json.dumps(a["Properties"].get("Dimensions"))]
        assert (props["MetricName"], props["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 1)


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_throttles_and_each_tables_throttle_events(assembly: Assembly, stage: str) -> None:
    throttles = _alarm(assembly, stage, "LambdaThrottles")
    assert (throttles["Namespace"], throttles["MetricName"], throttles.get("Dimensions")) == (
        "AWS/Lambda",
        "Throttles",
        None,
    )
    for table in catalog.TABLES:
        props = _alarm(assembly, stage, f"{table.id}TableThrottles")
        stats = _stats(props)
        assert {s["Metric"]["MetricName"] for s in stats.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        for stat in stats.values():
            assert f"Tables{table.id}" in json.dumps(_dimensions(stat)["TableName"])


@pytest.mark.parametrize("stage", STAGES)
def test_stage_wide_signals_have_their_alarms(assembly: Assembly, stage: str) -> None:
    for prefix, name, threshold in (
        ("LoginFailureSpike", signals.LOGINS_FAILED, alarms.LOGIN_FAILURES),
        ("RateLimitedSpike", signals.RATE_LIMITED, alarms.RATE_LIMITED),
        ("CarrierCircuitOpened", signals.CIRCUITS_OPENED, 1),
    ):
        props = _alarm(assembly, stage, prefix)
        assert (props["Namespace"], props["MetricName"], props["Threshold"]) == ("Switchboard", name, threshold)
        assert props["Dimensions"] == [{"Name": "stage", "Value": stage}]


@pytest.mark.parametrize("stage", STAGES)
def test_a_missed_or_failed_purge_run_alarms(assembly: Assembly, stage: str) -> None:
    props = _alarm(assembly, stage, "PurgeRunMissed")
    assert (props["MetricName"], props["Statistic"], props["Period"]) == (signals.PURGE_RUNS_SUCCEEDED, "Sum", 3600)
    assert props["Dimensions"] == [{"Name": "stage", "Value": stage}]
    # No run at all leaves no data: that must breach, over more than two hourly runs.
    assert (props["TreatMissingData"], props["EvaluationPeriods"]) == ("breaching", 3)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
    errors = _alarm(assembly, stage, "PurgeJobErrors")
    assert (errors["MetricName"], errors["Threshold"]) == ("Errors", 1)


@pytest.mark.parametrize("stage", STAGES)
def test_waf_blocks_alarm_reads_the_web_acls_metric(assembly: Assembly, stage: str) -> None:
    props = _alarm(assembly, stage, "WafBlocks")
    (acl_id,) = _api(assembly, stage, "AWS::WAFv2::WebACL")
    dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    assert dimensions["WebACL"] == {"Fn::Select": [0, {"Fn::Split": ["|", {"Ref": acl_id}]}]}
    assert (dimensions["Rule"], dimensions["Region"]) == ("ALL", assembly.configs[stage].region)
    assert (props["Namespace"], props["MetricName"]) == ("AWS/WAFV2", "BlockedRequests")


@pytest.mark.parametrize("stage", STAGES)
def test_mail_goes_out_with_a_configuration_set_whose_rates_alarm(assembly: Assembly, stage: str) -> None:
    (configuration_set,) = _api(assembly, stage, "AWS::SES::ConfigurationSet").values()
    name = mail_configuration_set_name(stage)
    assert configuration_set["Properties"]["Name"] == name
    assert configuration_set["Properties"]["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    for prefix, metric, threshold in (
        ("SesBounceRate", "Reputation.BounceRate", 0.05),
        ("SesComplaintRate", "Reputation.ComplaintRate", 0.001),
    ):
        props = _alarm(assembly, stage, prefix)
        assert (props["Namespace"], props["MetricName"], props["Threshold"]) == ("AWS/SES", metric, threshold)
        assert props["Dimensions"] == [{"Name": "ses:configuration-set", "Value": name}]
    functions = _api(assembly, stage, "AWS::Lambda::Function")
    for spec in catalog.FUNCTIONS:
        pascal = "".join(p.capitalize() for p in spec.name.split("_"))
        (function,) = [f for i, f in functions.items() if i.startswith(f"{pascal}Function")]
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables.get("MAIL_CONFIGURATION_SET") == (name if spec.sends_email else None), spec.name


@pytest.mark.parametrize("stage", STAGES)
def test_a_kms_key_scheduled_for_deletion_or_disabled_reaches_on_call(assembly: Assembly, stage: str) -> None:
    data = assembly.template(stage, "data")["Resources"]
    (rule,) = [r["Properties"] for i, r in data.items() if r["Type"] == "AWS::Events::Rule" and "KeyDeletion" in i]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.kms"]
    assert pattern["detail"]["eventName"] == ["ScheduleKeyDeletion", "DisableKey"]
    (target,) = rule["Targets"]
    (topic_id,) = [i for i, r in data.items() if r["Type"] == "AWS::SNS::Topic"]
    assert target["Arn"] == {"Ref": topic_id}
    assert "DeadLetterConfig" in target
    policies = [r["Properties"] for r in data.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    assert any(
        s.get("Principal") == {"Service": "events.amazonaws.com"} and s["Action"] == "sns:Publish"
        for p in policies
        for s in p["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("stage", STAGES)
def test_the_dashboard_shows_the_key_signals_and_every_alarm(assembly: Assembly, stage: str) -> None:
    (dashboard,) = _api(assembly, stage, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"switchboard-{stage}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in (
        "5XXError",
        "Latency",
        signals.AUTHORIZER_INTERNAL_ERRORS,
        signals.CREDENTIALS_REFUSED,
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
        signals.LOGINS_FAILED,
        signals.RATE_LIMITED,
        signals.CIRCUITS_OPENED,
    ):
        assert shown in body, shown
    for alarm_id in ("Api5xxRatio", "AuthorizerErrors", "PurgeRunMissed", "WafBlocks", "CanaryFailing"):
        assert alarm_id in body, alarm_id


@pytest.mark.parametrize("stage", STAGES)
def test_a_python_canary_checks_health_everywhere_and_sends_in_dev(assembly: Assembly, stage: str) -> None:
    (canary,) = _api(assembly, stage, "AWS::Synthetics::Canary").values()
    props = canary["Properties"]
    assert props["RuntimeVersion"].startswith("syn-python-")
    assert props["Code"]["Handler"] == HANDLER
    assert props["Schedule"]["Expression"] == "rate(5 minutes)"
    variables = props["RunConfig"]["EnvironmentVariables"]
    assert variables["BASE_URL"] == f"https://{assembly.configs[stage].domain_name}"
    assert ("SEND_SECRET_ARN" in variables) is (stage == "dev") is assembly.configs[stage].canary_send
    failing = _alarm(assembly, stage, "CanaryFailing")
    assert (failing["Namespace"], failing["MetricName"]) == ("CloudWatchSynthetics", "SuccessPercent")
    assert failing["Dimensions"] == [
        {"Name": "CanaryName", "Value": {"Ref": next(iter(_api(assembly, stage, "AWS::Synthetics::Canary")))}}
    ]
    assert (failing["ComparisonOperator"], failing["EvaluationPeriods"]) == ("LessThanThreshold", 2)
    if stage == "dev":
        (secret_id,) = _api(assembly, stage, "AWS::SecretsManager::Secret")
        assert variables["SEND_SECRET_ARN"] == {"Ref": secret_id}
        role = json.dumps(_api(assembly, stage, "AWS::IAM::Policy"))
        assert "secretsmanager:GetSecretValue" in role


@pytest.mark.parametrize("stage", STAGES)
def test_cloudflare_drift_still_alarms(assembly: Assembly, stage: str) -> None:
    for name in ("CloudflareRangesDrift", "CloudflareRangesCheckFailed"):
        props = _alarm(assembly, stage, name)
        assert props["Dimensions"] == [{"Name": "service", "Value": "edge_drift_job"}]
