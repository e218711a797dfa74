"""Template assertions for what cdk-nag cannot see, on the session's one synthesis of dev and prod."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from infra import nag
from infra.constructs.edge import CLIENT_IP_HEADER, cloudflare_ranges
from infra.constructs.rest_api import STAGE_NAME
from infra.gateway_errors import GATEWAY_ERRORS
from switchboard import catalog
from switchboard.headers import PROBLEM_CONTENT_TYPE, SECURITY_HEADERS
from tests.infra.conftest import STAGES, Assembly, resource_paths

# W3005: CDK adds an explicit DependsOn from each function to its role although GetAtt already orders them;
# harmless redundancy that we cannot remove without escape hatches on every function.
CFN_LINT_IGNORED = ["W3005"]


def _key_ids(assembly: Assembly, stage: str) -> set[str]:
    return set(assembly.resources(stage, "AWS::KMS::Key"))


def _uses_one_of(value: Any, logical_ids: set[str]) -> bool:
    # Same stack: Ref/GetAtt of the logical id; API stack: Fn::ImportValue whose export name embeds it.
    text = json.dumps(value)
    return any(logical_id in text for logical_id in logical_ids)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_synth_has_no_unacknowledged_nag_finding(assembly: Assembly) -> None:
    # app.synth() raised otherwise; the report also proves both packs ran and found nothing open.
    report = json.loads((assembly.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    acknowledged = nag.render_assembly(assembly.outdir, "dev")
    assert "AwsSolutions-APIG4" in acknowledged
    assert "Serverless-LambdaDLQ" in acknowledged


def test_nag_doc_lists_exactly_the_acknowledgements(assembly: Assembly) -> None:
    assert nag.DOC.read_text() == nag.render_assembly(assembly.outdir, "dev"), "run `python -m infra.nag`"


def test_every_acknowledgement_has_a_reason(assembly: Assembly) -> None:
    for stage in STAGES:
        for metadata in assembly.outdir.glob(f"Switchboard-{stage}-*.metadata.json"):
            for finding, path, reason in nag.acknowledged(json.loads(metadata.read_text())):
                assert len(reason) > 40, (finding, path)


@pytest.mark.parametrize("stage", STAGES)
def test_tables_match_catalog_with_pitr_30_cmk_ttl_and_protection(assembly: Assembly, stage: str) -> None:
    tables = assembly.resources(stage, "AWS::DynamoDB::Table")
    assert not assembly.resources(stage, "AWS::DynamoDB::GlobalTable")
    assert len(tables) == len(catalog.TABLES)
    keys = _key_ids(assembly, stage)
    for spec in catalog.TABLES:
        (table,) = [t for logical_id, t in tables.items() if logical_id.startswith(f"Tables{spec.id}")]
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        # R61 over R58: the key-encryption keys have no PITR (tests/infra/test_shred_stacks.py says why).
        assert props["PointInTimeRecoverySpecification"] == (
            {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 30}
            if spec.restorable
            else {"PointInTimeRecoveryEnabled": False}
        )
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert _uses_one_of(props["SSESpecification"]["KMSMasterKeyId"], keys)
        assert props.get("DeletionProtectionEnabled", False) is assembly.configs[stage].deletion_protection
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        indexes = {gsi["IndexName"]: gsi for gsi in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {index.name for index in spec.indexes}
        assert "TableName" not in props  # no physical names


def test_prod_retains_and_protects_while_dev_does_not(assembly: Assembly) -> None:
    for stage, retained in (("prod", True), ("dev", False)):
        for table in assembly.resources(stage, "AWS::DynamoDB::Table").values():
            assert table["DeletionPolicy"] == ("Retain" if retained else "Delete")
        for which in ("data", "api"):
            name = assembly.template(stage, which)
            assert name  # the template exists
        for artifact_name in (f"Switchboard-{stage}-Data", f"Switchboard-{stage}-Api"):
            properties = assembly.manifest["artifacts"][artifact_name]["properties"]
            assert properties.get("terminationProtection", False) is retained


def test_stages_deploy_to_distinct_accounts(assembly: Assembly) -> None:
    environments = {
        stage: {assembly.manifest["artifacts"][f"Switchboard-{stage}-{w}"]["environment"] for w in ("Data", "Api")}
        for stage in STAGES
    }
    assert all(len(envs) == 1 for envs in environments.values())
    assert environments["dev"] != environments["prod"]
    assert assembly.configs["dev"].account != assembly.configs["prod"].account


@pytest.mark.parametrize("stage", STAGES)
def test_queues_use_our_key_and_deny_non_tls(assembly: Assembly, stage: str) -> None:
    keys = _key_ids(assembly, stage)
    queues = assembly.resources(stage, "AWS::SQS::Queue")
    # catalog queues + their DLQs, one DLQ per schedule, the alarm-delivery DLQ
    assert len(queues) == 2 * len(catalog.QUEUES) + len(_schedules()) + 1
    for queue in queues.values():
        assert _uses_one_of(queue["Properties"]["KmsMasterKeyId"], keys)
    covered: set[str] = set()
    for policy in assembly.resources(stage, "AWS::SQS::QueuePolicy").values():
        denies = [
            s
            for s in _statements(policy["Properties"]["PolicyDocument"])
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies
        covered |= {json.dumps(q) for q in policy["Properties"]["Queues"]}
    assert covered == {json.dumps({"Ref": logical_id}) for logical_id in queues}


@pytest.mark.parametrize("stage", STAGES)
def test_catalog_queues_redrive_to_their_dlq_and_alarm(assembly: Assembly, stage: str) -> None:
    queues = assembly.resources(stage, "AWS::SQS::Queue")
    alarms = assembly.resources(stage, "AWS::CloudWatch::Alarm")
    for spec in catalog.QUEUES:
        main = queues[next(q for q in queues if q.startswith(f"{spec.id}Queue"))]
        dlq_id = next(q for q in queues if q.startswith(f"{spec.id}Dlq"))
        redrive = main["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == spec.max_receive_count
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
        dlq_alarms = [a for a in alarms.values() if dlq_id in json.dumps(a["Properties"].get("Dimensions", []))]
        assert len(dlq_alarms) == 1
        assert dlq_alarms[0]["Properties"]["Threshold"] == 1
        assert dlq_alarms[0]["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_notifies_the_topic(assembly: Assembly, stage: str) -> None:
    alarms = assembly.resources(stage, "AWS::CloudWatch::Alarm")
    composites = assembly.resources(stage, "AWS::CloudWatch::CompositeAlarm")
    live = (
        {fn.name for _, fn in catalog.all_routes()}
        | {catalog.AUTHORIZER}
        | {f.name for f in catalog.FUNCTIONS if f.consumes}
    )
    # every DLQ (catalog, schedules, alarm delivery) + one error alarm per function + a latency alarm per function
    # behind `live` + the API's 5xx ratio and latency + the SLO windows (2 per composite) + age and backlog per
    # queue + throttles per table + Lambda throttles + login failures, 429s, circuits, missed purge + WAF + SES
    # bounces and complaints + the canary + Cloudflare drift and its check (docs/alarms.md)
    assert len(alarms) == (
        len(catalog.QUEUES) + len(_schedules()) + 1
        + len(catalog.FUNCTIONS) + len(live)
        + 2 + 2 * len(composites)
        + 2 * len(catalog.QUEUES) + len(catalog.TABLES) + 1
        + 4 + 1 + 2 + 1 + 2
    )  # fmt: skip
    topics = set(assembly.resources(stage, "AWS::SNS::Topic"))
    parts = {part for c in composites.values() for part in alarms if part in json.dumps(c["Properties"]["AlarmRule"])}
    assert len(parts) == 2 * len(composites) == 4
    for alarm_id, alarm in [*alarms.items(), *composites.items()]:
        if alarm_id in parts:
            assert "AlarmActions" not in alarm["Properties"]  # its composite notifies, once
        else:
            assert _uses_one_of(alarm["Properties"]["AlarmActions"], topics)


@pytest.mark.parametrize("stage", STAGES)
def test_alarm_topic_is_encrypted_tls_only_and_mails_on_call(assembly: Assembly, stage: str) -> None:
    (topic,) = assembly.resources(stage, "AWS::SNS::Topic").values()
    assert _uses_one_of(topic["Properties"]["KmsMasterKeyId"], _key_ids(assembly, stage))
    (policy,) = assembly.resources(stage, "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in _statements(policy["Properties"]["PolicyDocument"])
    )
    (subscription,) = assembly.resources(stage, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == assembly.configs[stage].alarm_email


@pytest.mark.parametrize("stage", STAGES)
def test_log_groups_use_the_logs_key_and_have_retention(assembly: Assembly, stage: str) -> None:
    logs_key = {k for k in _key_ids(assembly, stage) if "LogsKey" in k}
    groups = assembly.resources(stage, "AWS::Logs::LogGroup")
    # one per function (+ the seeder), access + execution logs of the customer, links and console APIs, WAF logs
    assert len(groups) == len(catalog.FUNCTIONS) + 1 + 2 * len(catalog.Api) + 1
    for group in groups.values():
        assert _uses_one_of(group["Properties"]["KmsKeyId"], logs_key)
        assert group["Properties"]["RetentionInDays"] == assembly.configs[stage].log_retention_days


@pytest.mark.parametrize("stage", STAGES)
def test_keys_rotate_and_root_may_only_administer(assembly: Assembly, stage: str) -> None:
    keys = assembly.resources(stage, "AWS::KMS::Key")
    assert len(keys) == 6  # data, envelope, logs, backup; the audit HMAC key; the deletion receipts' signing key
    for key in keys.values():
        # KMS rotates symmetric keys only; the HMAC key's replacement is a deployment (docs/audit.md), the receipt
        # signing key's a new published key id (docs/runbooks.md#deletion-receipt-key).
        manual = key["Properties"].get("KeySpec") in ("HMAC_256", "ECC_NIST_P256")
        assert key["Properties"].get("EnableKeyRotation", False) is not manual
        for statement in _statements(key["Properties"]["KeyPolicy"]):
            actions = _as_list(statement["Action"])
            assert "kms:*" not in actions
            if any(a in actions for a in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")):
                assert "Condition" in statement or "Service" in statement["Principal"], statement


@pytest.mark.parametrize("stage", STAGES)
def test_secrets_use_our_key_and_carry_no_value(assembly: Assembly, stage: str) -> None:
    secrets = assembly.resources(stage, "AWS::SecretsManager::Secret")
    # The catalog's, and where the canary sends (dev) its own, set by the operator (docs/alarms.md#canary).
    assert len(secrets) == len(catalog.secrets_for(stage)) + assembly.configs[stage].canary_send
    for secret in secrets.values():
        assert _uses_one_of(secret["Properties"]["KmsKeyId"], _key_ids(assembly, stage))
        assert secret["Properties"]["SecretString"] == "{}"
    seeds = assembly.resources(stage, "Custom::SecretSeed")
    assert sorted(tuple(s["Properties"]["Keys"]) for s in seeds.values()) == sorted(
        spec.generated_keys for spec in catalog.secrets_for(stage) if spec.generated_keys
    )


@pytest.mark.parametrize("stage", STAGES)
def test_api_is_regional_without_execute_api_endpoint_and_cloudflare_only(assembly: Assembly, stage: str) -> None:
    apis = assembly.resources(stage, "AWS::ApiGateway::RestApi")
    # The customer API, the media links' and the console's own (all on the custom domain; the operator API:
    # test_operator_api).
    assert set(apis) == {assembly.rest_api_id(stage, serves=api) for api in catalog.Api}
    for api in apis.values():
        _regional_and_cloudflare_only(api["Properties"])


def _regional_and_cloudflare_only(props: dict[str, Any]) -> None:
    assert props["DisableExecuteApiEndpoint"] is True
    assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    statements = _statements(props["Policy"])
    allow, deny = statements
    assert allow["Effect"] == "Allow"
    assert allow["Action"] == "execute-api:Invoke"
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "execute-api:Invoke"
    ranges = deny["Condition"]["NotIpAddress"]["aws:SourceIp"]
    assert sorted(ranges) == sorted(cloudflare_ranges())
    assert len(ranges) == 22


def test_cloudflare_ranges_are_valid_cidrs_of_both_families() -> None:
    ranges = cloudflare_ranges()
    networks = [ipaddress.ip_network(cidr, strict=True) for cidr in ranges]
    assert len(set(ranges)) == 22
    assert sum(n.version == 4 for n in networks) == 15
    assert sum(n.version == 6 for n in networks) == 7


@pytest.mark.parametrize("stage", STAGES)
def test_domain_has_tls_1_2_and_mutual_tls(assembly: Assembly, stage: str) -> None:
    config = assembly.configs[stage]
    (domain,) = assembly.resources(stage, "AWS::ApiGateway::DomainName").values()
    props = domain["Properties"]
    assert props["DomainName"] == config.domain_name
    assert props["SecurityPolicy"] == "TLS_1_2"
    assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    mtls = props["MutualTlsAuthentication"]
    assert mtls["TruststoreUri"]["Fn::Join"][1][-1] == "/aop-ca.pem"
    # The bootstrap stack's object version, through SSM (tests/infra/test_deploy.py checks the raw wiring).
    assert mtls["TruststoreVersion"]["Fn::GetAtt"][1] == "VersionId"
    (certificate,) = assembly.resources(stage, "AWS::CertificateManager::Certificate").values()
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    (mapping,) = assembly.resources(stage, "AWS::ApiGateway::BasePathMapping").values()
    assert "Stage" in mapping["Properties"]
    # Cloudflare's CNAME target, an output of the API stack itself (the domain is in its nested customer API).
    (domain_id,) = assembly.resources(stage, "AWS::ApiGateway::DomainName")
    outputs = assembly.template(stage, "api")["Outputs"]
    assert outputs["RegionalDomainName"]["Value"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}


@pytest.mark.parametrize("stage", STAGES)
def test_stage_logs_throttles_and_never_traces_data(assembly: Assembly, stage: str) -> None:
    stages = assembly.resources(stage, "AWS::ApiGateway::Stage").values()
    assert len(stages) == len(catalog.Api)  # the customer API's, the links API's and the console's
    for api_stage in stages:
        _logged_and_throttled(assembly, stage, api_stage["Properties"])


def _logged_and_throttled(assembly: Assembly, stage: str, props: dict[str, Any]) -> None:
    config = assembly.configs[stage]
    assert props["StageName"] == STAGE_NAME
    assert props["TracingEnabled"] is True
    fields = json.loads(props["AccessLogSetting"]["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert _uses_one_of(
        props["AccessLogSetting"]["DestinationArn"], set(assembly.resources(stage, "AWS::Logs::LogGroup"))
    )
    (default,) = [m for m in props["MethodSettings"] if m["ResourcePath"] == "/*"]
    assert default["HttpMethod"] == "*"
    assert default["DataTraceEnabled"] is False
    assert default["LoggingLevel"] == "ERROR"
    assert default["MetricsEnabled"] is True
    assert default["ThrottlingRateLimit"] == config.throttle_rate_limit
    assert default["ThrottlingBurstLimit"] == config.throttle_burst_limit
    for setting in props["MethodSettings"]:
        assert setting.get("DataTraceEnabled", False) is False


@pytest.mark.parametrize("stage", STAGES)
def test_every_method_is_validated_and_public_ones_match_the_catalog(assembly: Assembly, stage: str) -> None:
    every = assembly.resources(stage, "AWS::ApiGateway::Method")
    methods = {k: m for k, m in every.items() if m["Properties"]["HttpMethod"] != "ANY"}
    assert len(methods) == len(catalog.routes())
    public = {(r.method, r.path) for r, _ in catalog.routes() if r.auth is catalog.Auth.PUBLIC}
    console_api = {"Ref": assembly.rest_api_id(stage, serves=catalog.Api.CONSOLE)}
    public_count = 0
    for method in methods.values():
        props = method["Properties"]
        # The console's HTML forms are urlencoded: no JSON model, no validator (test_console_methods_...).
        if props["RestApiId"] != console_api:
            assert "RequestValidatorId" in props
        assert props["Integration"]["Type"] == "AWS_PROXY"
        if props["AuthorizationType"] == "NONE":
            public_count += 1
        else:
            assert props["AuthorizationType"] == "CUSTOM"
            assert "AuthorizerId" in props
    assert public_count == len(public)
    validators = assembly.resources(stage, "AWS::ApiGateway::RequestValidator").values()
    assert len(validators) == len(catalog.Api)  # one per API
    for validator in validators:
        assert validator["Properties"]["ValidateRequestBody"] is True
        assert validator["Properties"]["ValidateRequestParameters"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_console_methods_proxy_to_the_console_without_a_model_and_others_answer_405(
    assembly: Assembly, stage: str
) -> None:
    resources = assembly.template(stage, "api")["Resources"]
    paths = resource_paths(resources)
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    (console_fn,) = [f for f in functions if f.startswith("ConsoleFunction")]
    aliases = assembly.resources(stage, "AWS::Lambda::Alias")
    console_aliases = {a for a, alias in aliases.items() if alias["Properties"]["FunctionName"] == {"Ref": console_fn}}
    assert len(console_aliases) == 1
    found: dict[tuple[str, str], dict[str, Any]] = {}
    # The console's own RestApi (mapped at /console): its root is /console, its resources below it.
    console_api = {"Ref": assembly.rest_api_id(stage, serves=catalog.Api.CONSOLE)}
    for resource in resources.values():
        props = resource["Properties"]
        if resource["Type"] == "AWS::ApiGateway::Method":
            path = paths.get(props["ResourceId"].get("Ref", ""), "")
            if props["RestApiId"] == console_api:
                found[(props["HttpMethod"], catalog.CONSOLE_PREFIX + path)] = props
            else:
                assert not catalog.in_console(path or "/"), path
    assert set(found) == {
        ("GET", "/console"),
        ("ANY", "/console"),
        ("GET", "/console/{proxy+}"),
        ("POST", "/console/{proxy+}"),
        ("ANY", "/console/{proxy+}"),
    }
    for (method, path), props in found.items():
        if method == "ANY":  # every other method: the MOCK 405 with Allow, no function runs
            assert props["Integration"]["Type"] == "MOCK"
            answer = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
            assert answer["method.response.header.Allow"] == ("'GET'" if path == "/console" else "'GET, POST'")
            continue
        assert props["AuthorizationType"] == "NONE"  # the browser's credential is the cookie the console checks
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert any(alias in json.dumps(props["Integration"]["Uri"]) for alias in console_aliases), props
        assert "RequestValidatorId" not in props and "RequestModels" not in props


@pytest.mark.parametrize("stage", STAGES)
def test_console_role_has_no_data_plane_permission(assembly: Assembly, stage: str) -> None:
    # The console acts only through the public API over HTTP with the person's own token (docs/console.md).
    statements = _function_statements(assembly, stage)["console"]
    (forwarding,) = {json.dumps(s["Resource"]) for s in statements if _reads_forwarding_key(s)}
    # Beyond its own logs and traces, it reads one secret: the key it vouches for the browser's address with, and
    # decrypts only that secret's value, only through Secrets Manager.
    vouching = [s for s in statements if not all(a.startswith(("logs:", "xray:")) for a in _as_list(s["Action"]))]
    assert vouching == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": json.loads(forwarding)},
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{assembly.configs[stage].region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": json.loads(forwarding),
                }
            },
            "Effect": "Allow",
            "Resource": vouching[1]["Resource"],
        },
    ], vouching


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_functions_behind_the_consoles_calls_read_its_forwarding_key(assembly: Assembly, stage: str) -> None:
    readers = {
        name
        for name, statements in _function_statements(assembly, stage).items()
        if any(_reads_forwarding_key(s) for s in statements)
    }
    assert readers == catalog.CONSOLE_CALLS | {"console"}


def _reads_forwarding_key(statement: dict[str, Any]) -> bool:
    return "secretsmanager:GetSecretValue" in _as_list(statement["Action"]) and any(
        isinstance(r, dict) and str(r.get("Ref", "")).startswith("SecretsConsoleForwarding")
        for r in _as_list(statement["Resource"])
    )


def _function_statements(assembly: Assembly, stage: str) -> dict[str, list[dict[str, Any]]]:
    """Each catalog function's role's statements, by function name."""
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    by_role = _policies_by_role(assembly, stage)
    found = {}
    for fn in catalog.for_stage(stage):
        prefix = "".join(part.capitalize() for part in fn.name.split("_")) + "Function"
        (logical_id,) = [f for f in functions if f.startswith(prefix) and f[len(prefix) :].isalnum()]
        found[fn.name] = by_role.get(functions[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0], [])
    return found


def test_no_local_only_path_is_deployed(assembly: Assembly) -> None:
    for template in assembly.templates.values():
        assert "/_local" not in json.dumps(template)
        assert "_local" not in json.dumps(
            [
                r["Properties"].get("PathPart")
                for r in template["Resources"].values()
                if "PathPart" in r.get("Properties", {})
            ]
        )


@pytest.mark.parametrize("stage", STAGES)
def test_gateway_responses_are_problem_json_with_security_headers(assembly: Assembly, stage: str) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in assembly.resources(stage, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {e.response_type for e in GATEWAY_ERRORS}
    for error in GATEWAY_ERRORS:
        props = responses[error.response_type]
        assert props["StatusCode"] == str(error.status)
        body = json.loads(props["ResponseTemplates"][PROBLEM_CONTENT_TYPE])
        assert body["status"] == error.status
        assert body["request_id"] == "$context.requestId"
        # A refused body tells the client why: the validator's own message goes in `detail`.
        has_reason = "$context.error.validationErrorString" in body["detail"]
        assert has_reason == (error.response_type == "BAD_REQUEST_BODY"), error.response_type
        headers = props["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == f"'{PROBLEM_CONTENT_TYPE}'"
        for name, value in SECURITY_HEADERS.items():
            assert headers[f"gatewayresponse.header.{name}"] == f"'{value}'"


@pytest.mark.parametrize("stage", STAGES)
def test_waf_guards_the_stage_with_managed_rules_and_client_ip_rate_limits(assembly: Assembly, stage: str) -> None:
    config = assembly.configs[stage]
    ((acl_id, acl),) = assembly.resources(stage, "AWS::WAFv2::WebACL").items()
    assert acl["Properties"]["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    rate = {
        name: r["Statement"]["RateBasedStatement"]
        for name, r in rules.items()
        if "RateBasedStatement" in r["Statement"]
    }
    assert {r["Limit"] for r in rate.values()} == {
        config.waf_rate_limit_per_ip,
        config.waf_auth_rate_limit_per_ip,
        config.waf_callback_rate_limit_per_ip,
    }
    for statement in rate.values():
        assert statement["AggregateKeyType"] == "FORWARDED_IP"
        assert statement["ForwardedIPConfig"] == {"HeaderName": CLIENT_IP_HEADER, "FallbackBehavior": "MATCH"}
    # Which routes each rate rule covers: tests/infra/test_edge_waf.py.
    # Every stage (the customer API's, the links API's and the console's) behind this web ACL.
    associations = assembly.resources(stage, "AWS::WAFv2::WebACLAssociation").values()
    stage_ids = set(assembly.resources(stage, "AWS::ApiGateway::Stage"))
    assert len(associations) == len(stage_ids) == len(catalog.Api)
    assert {s for s in stage_ids for a in associations if s in json.dumps(a["Properties"]["ResourceArn"])} == stage_ids
    for association in associations:
        assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (logging,) = assembly.resources(stage, "AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "cookie"}},
    ]
    (destination,) = logging["Properties"]["LogDestinationConfigs"]
    assert ":log-group:aws-waf-logs-" in destination


@pytest.mark.parametrize("stage", STAGES)
def test_backup_plan_keeps_30_days_of_every_table_in_a_locked_vault(assembly: Assembly, stage: str) -> None:
    (plan,) = assembly.resources(stage, "AWS::Backup::BackupPlan").values()
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": 30}
    assert rule["ScheduleExpression"].startswith("cron(")
    ((_, vault),) = assembly.resources(stage, "AWS::Backup::BackupVault").items()
    backup_key = {k for k in _key_ids(assembly, stage) if "BackupKey" in k}
    assert _uses_one_of(vault["Properties"]["EncryptionKeyArn"], backup_key)
    (selection,) = assembly.resources(stage, "AWS::Backup::BackupSelection").values()
    selected = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
    unrestorable = tuple(f"Tables{t.id}" for t in catalog.TABLES if not t.restorable)
    for table_id in assembly.resources(stage, "AWS::DynamoDB::Table"):
        assert (table_id in selected) is not table_id.startswith(unrestorable), table_id
    if not assembly.configs[stage].lock_backups:
        assert "AccessPolicy" not in vault["Properties"]  # dev: `make destroy` may delete it (test_deploy.py)
        return
    (deny,) = _statements(vault["Properties"]["AccessPolicy"])
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert "backup:DeleteRecoveryPoint" in deny["Action"]
    assert "backup:PutBackupVaultAccessPolicy" in deny["Action"]


@pytest.mark.parametrize("stage", STAGES)
def test_purge_schedule_retries_into_an_encrypted_dlq(assembly: Assembly, stage: str) -> None:
    rules = assembly.resources(stage, "AWS::Events::Rule")
    # The schedules, and the KMS key deletion rule of the alarm topic (an event pattern, no schedule).
    assert len([r for r in rules.values() if "ScheduleExpression" in r["Properties"]]) == len(_schedules())
    assert len(rules) == len(_schedules()) + 1
    (rule,) = (r for r in rules.values() if r["Properties"].get("ScheduleExpression") == catalog.PURGE.expression)
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 3600
    queues = assembly.resources(stage, "AWS::SQS::Queue")
    dlq_id = next(q for q in queues if q.startswith("PurgeJobScheduleDlq"))
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    configs = assembly.resources(stage, "AWS::Lambda::EventInvokeConfig").values()
    assert any(dlq_id in json.dumps(c["Properties"]["DestinationConfig"]["OnFailure"]) for c in configs)


def _schedules() -> list[catalog.Schedule]:
    return [f.schedule for f in catalog.FUNCTIONS if f.schedule is not None]


def _policies_by_role(assembly: Assembly, stage: str) -> dict[str, list[dict[str, Any]]]:
    by_role: dict[str, list[dict[str, Any]]] = {}
    for policy in assembly.resources(stage, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            by_role.setdefault(role["Ref"], []).extend(_statements(policy["Properties"]["PolicyDocument"]))
    return by_role


@pytest.mark.parametrize("stage", STAGES)
def test_iam_has_no_full_wildcards_and_audit_is_append_only(assembly: Assembly, stage: str) -> None:
    audit_id = next(t for t in assembly.resources(stage, "AWS::DynamoDB::Table") if t.startswith("TablesAudit"))
    for statements in _policies_by_role(assembly, stage).values():
        for statement in statements:
            actions = _as_list(statement["Action"])
            assert "*" not in actions
            assert not any(a.endswith(":*") for a in actions), actions
            if statement["Effect"] == "Allow" and audit_id in json.dumps(statement["Resource"]):
                assert not {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} & set(actions)


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_its_own_role_and_catalog_grants(assembly: Assembly, stage: str) -> None:
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    roles = [json.dumps(f["Properties"]["Role"]) for f in functions.values()]
    assert len(roles) == len(set(roles)) == len(catalog.FUNCTIONS) + 1  # + the secret seeder
    policies = _policies_by_role(assembly, stage)
    tables = assembly.resources(stage, "AWS::DynamoDB::Table")
    for spec in catalog.FUNCTIONS:
        logical_prefix = "".join(p.capitalize() for p in spec.name.split("_"))
        (role_id,) = [r for r in policies if r.startswith(f"{logical_prefix}Role")]
        statements = policies[role_id]
        for table_id, ops in spec.tables.items():
            table_logical = next(t for t in tables if t.startswith(f"Tables{table_id}"))
            granted = {
                a
                for s in statements
                if s["Effect"] == "Allow" and table_logical in json.dumps(s["Resource"])
                for a in _as_list(s["Action"])
                if a.startswith("dynamodb:")
            }
            assert granted == {op.action for op in ops}, (spec.name, table_id)
        ungranted = [t for t in catalog.TABLES if t.id not in spec.tables]
        for table in ungranted:
            table_logical = next(t for t in tables if t.startswith(f"Tables{table.id}"))
            assert table_logical not in json.dumps(statements), (spec.name, table.id)


@pytest.mark.parametrize("stage", STAGES)
def test_functions_are_arm64_latest_python_traced_with_catalog_env(assembly: Assembly, stage: str) -> None:
    config = assembly.configs[stage]
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    for function in functions.values():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"]
        major, minor = props["Runtime"].removeprefix("python").split(".")
        assert (int(major), int(minor)) >= (3, 12)
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
    for spec in catalog.FUNCTIONS:
        logical_prefix = "".join(p.capitalize() for p in spec.name.split("_"))
        (function,) = [f for name, f in functions.items() if name.startswith(f"{logical_prefix}Function")]
        props = function["Properties"]
        env = props["Environment"]["Variables"]
        assert props["Handler"] == "handler.lambda_handler"
        assert props["MemorySize"] == spec.memory_mb
        assert props["Timeout"] == spec.timeout_s
        assert len(props["Layers"]) == 2
        assert env["POWERTOOLS_SERVICE_NAME"] == spec.name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Switchboard"
        assert env["STAGE"] == stage
        assert env["PUBLIC_BASE_URL"] == f"https://{config.domain_name}"
        assert env["SECURITY_CONTACT"] == config.security_contact
        expected = {catalog.table(t).env for t in spec.tables} | {catalog.queue(q).env for q in spec.queues}
        expected |= {s.env for s in catalog.secrets_for(stage) if s.id in spec.secrets}
        named = {k for k in env if k.endswith(("_TABLE", "_QUEUE_URL", "_SECRET"))}
        assert named == expected
        assert ("DATA_KEY_ID" in env) is spec.uses_data_key


def test_cfn_lint_reports_no_errors(assembly: Assembly) -> None:
    problems = []
    # Every stack's template and every nested one (the customer API, the operator API, the alarms).
    paths = [assembly.outdir / f"{name}.template.json" for name in assembly.templates]
    nested = sorted(assembly.outdir.glob("*.nested.template.json"))
    assert len(nested) == 3 * len(STAGES)
    for path in [*paths, *nested]:
        matches = lint_file(path, config=ManualArgs(ignore_checks=CFN_LINT_IGNORED))
        problems += [f"{path.name}: {m.rule.id} {m.message}" for m in matches]
    assert problems == []


@pytest.mark.parametrize("stage", STAGES)
def test_authorizer_is_uncached_request_authorizer_running_the_catalog_function(assembly: Assembly, stage: str) -> None:
    (authorizer,) = assembly.resources(stage, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST"
    # R22: logout, revocation and suspension must bite on the very next request.
    assert props["AuthorizerResultTtlInSeconds"] == catalog.AUTHORIZER_CACHE_TTL_S == 0
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    (authorizer_fn,) = [logical for logical in functions if logical.startswith("Authorizer")]
    # Through its `live` alias (tests/infra/test_deploy_aliases.py): the alias of exactly this function.
    aliases = assembly.resources(stage, "AWS::Lambda::Alias")
    (alias,) = [logical for logical in aliases if logical in json.dumps(props["AuthorizerUri"])]
    assert aliases[alias]["Properties"]["FunctionName"] == {"Ref": authorizer_fn}


@pytest.mark.parametrize("stage", STAGES)
def test_only_mail_sending_functions_may_send_and_only_as_our_sender(assembly: Assembly, stage: str) -> None:
    senders = {spec.name for spec in catalog.FUNCTIONS if spec.sends_email}
    assert senders
    for role, statements in _policies_by_role(assembly, stage).items():
        ses = [s for s in statements if "ses:SendEmail" in _as_list(s["Action"])]
        expected = any(role.startswith("".join(p.capitalize() for p in name.split("_"))) for name in senders)
        assert bool(ses) == expected, role
        for statement in ses:
            assert statement["Condition"]["StringEquals"]["ses:FromAddress"] == "no-reply@switchboard.example"


@pytest.mark.parametrize("stage", STAGES)
def test_every_route_path_answers_other_methods_with_405_and_allow(assembly: Assembly, stage: str) -> None:
    # R40, as the local gateway answers (tests/security/test_f16_http_semantics.py): a MOCK, no function, no auth.
    resources = assembly.template(stage, "api")["Resources"]
    allowed: dict[str, set[str]] = {}
    for route, _ in catalog.routes():
        allowed.setdefault(route.path, set()).add(route.method)
    catch_alls = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"]
    catch_alls = [p for p in catch_alls if p["HttpMethod"] == "ANY"]
    assert len(catch_alls) == len(allowed)
    seen = set()
    for props in catch_alls:
        assert props["AuthorizationType"] == "NONE"
        integration = props["Integration"]
        assert integration["Type"] == "MOCK"
        (answer,) = integration["IntegrationResponses"]
        assert answer["StatusCode"] == "405"
        assert answer["ResponseParameters"]["method.response.header.Content-Type"] == "'application/problem+json'"
        allow = answer["ResponseParameters"]["method.response.header.Allow"].strip("'")
        body = json.loads(answer["ResponseTemplates"]["application/problem+json"])
        assert (body["status"], body["code"]) == (405, "method_not_allowed")
        seen.add(allow)
    assert seen == {", ".join(sorted(methods)) for methods in allowed.values()}
