"""Every action, resource ARN and condition key our policies and the evaluator use exists in AWS's IAM reference
(policy_sentry's bundled database): a misspelt action or key cannot pass the evaluator by matching nothing."""

from __future__ import annotations

import re
from functools import cache

import pytest
from policy_sentry.querying import actions, conditions

from tests import ledger
from tests.infra import iam, permissions
from tests.infra.conftest import STAGES, Assembly

# IAM's global condition keys that our statements use (they belong to no service's list).
GLOBAL_KEYS = {"aws:principalarn", "aws:principalaccount", "aws:securetransport", "aws:sourceaccount", "aws:sourcearn"}


@cache
def _actions(service: str) -> tuple[str, ...]:
    return tuple(actions.get_actions_for_service(service))


@cache
def _key_patterns(service: str) -> tuple[re.Pattern[str], ...]:
    keys = conditions.get_condition_keys_for_service(service)
    return tuple(re.compile(re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(k.lower())) + "$") for k in keys)


@cache
def _arn_formats(action: str) -> tuple[re.Pattern[str], ...]:
    service, name = action.split(":")
    formats = []
    for entry in actions.get_action_data(service, name).get(service, []):
        raw = entry["resource_arn_format"]
        if raw == "*":
            formats.append(re.compile(r"\*$"))
            continue
        pattern = re.escape(raw).replace(re.escape("${Partition}"), "aws")
        pattern = pattern.replace(re.escape("${LogStreamName}"), ".+")
        pattern = pattern.replace(re.escape("${ObjectName}"), ".+")  # S3 object keys hold slashes
        formats.append(re.compile(re.sub(r"\\\$\\\{[^}]+\\\}", "[^/:]+", pattern) + "$"))
    return tuple(formats)


def _statements(model: permissions.Model) -> list[iam.Statement]:
    found = [s for statements in model.identity.values() for s in statements]
    return found + [s for statements in model.key_policies.values() for s in statements]


@pytest.fixture(scope="module")
def models(assembly: Assembly) -> dict[str, permissions.Model]:
    return {
        stage: permissions.build(
            stage, assembly.template(stage, "data"), assembly.raw_template(stage, "api"), assembly.configs[stage]
        )
        for stage in STAGES
    }


@pytest.mark.parametrize("stage", STAGES)
def test_every_action_pattern_names_real_actions(models: dict[str, permissions.Model], stage: str) -> None:
    unknown = set()
    for statement in _statements(models[stage]):
        for pattern in statement.actions:
            service = pattern.split(":")[0]
            if not any(iam.matches(pattern, action, ignore_case=True) for action in _actions(service)):
                unknown.add(pattern)
    assert unknown == set()


@pytest.mark.parametrize("stage", STAGES)
def test_every_condition_key_is_a_real_key_of_its_service(models: dict[str, permissions.Model], stage: str) -> None:
    unknown = set()
    for statement in _statements(models[stage]):
        for keys in statement.conditions.values():
            for key in keys:
                lowered = key.lower()
                service = lowered.split(":")[0]
                if lowered in GLOBAL_KEYS or any(p.match(lowered) for p in _key_patterns(service)):
                    continue
                unknown.add(key)
    assert unknown == set()


@pytest.mark.parametrize("stage", STAGES)
def test_every_evaluated_request_is_a_real_action_on_a_resource_type_it_supports(
    models: dict[str, permissions.Model], stage: str
) -> None:
    model = models[stage]
    # Rows of what this stage does not deploy (the local stage's sandbox secret) are evaluated in no stage.
    rows = [row for row in ledger.committed() if row[0] in model.identity and row[3] in model.deployed]
    checks = [c for row in rows for c in permissions.checks(model, row)]
    checks += [c for function in model.identity for c in permissions.implied_checks(model, function)]
    assert checks
    wrong = set()
    for check in checks:
        request = check.request
        formats = _arn_formats(request.action)
        if not any(f.match(request.resource) for f in formats):
            wrong.add(f"{request.action} on {request.resource}")
    assert wrong == set()


def test_the_database_knows_what_a_wrong_grant_looks_like() -> None:
    # PutItem has no index resource type; Query has: the check above would catch a grant on the wrong one.
    index = "arn:aws:dynamodb:eu-west-1:111111111111:table/T/index/gsi1"
    assert any(f.match(index) for f in _arn_formats("dynamodb:Query"))
    assert not any(f.match(index) for f in _arn_formats("dynamodb:PutItem"))
    assert not _arn_formats("dynamodb:TransactWriteItems")  # no such IAM action: transactions need item actions
