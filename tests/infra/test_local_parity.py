"""The local stack and the CDK stacks build the same tables and queues from the catalog (they cannot drift)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local import provision
from switchboard import catalog
from tests.infra.conftest import STAGES, Assembly

_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


def _by_logical_name(assembly: Assembly, stage: str, resource_type: str) -> dict[str, dict[str, Any]]:
    # CDK logical ids are the construct path plus an 8-hex hash: strip the hash to get `TablesAccounts`, `SmsSendDlq`.
    return {
        _HASH_SUFFIX.sub("", logical_id): resource["Properties"]
        for logical_id, resource in assembly.resources(stage, resource_type).items()
    }


def _sorted_attributes(definitions: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((d["AttributeName"], d["AttributeType"]) for d in definitions)


@pytest.mark.parametrize("stage", STAGES)
def test_local_tables_equal_the_deployed_tables(assembly: Assembly, stage: str) -> None:
    deployed = _by_logical_name(assembly, stage, "AWS::DynamoDB::Table")
    local = {request["TableName"]: request for request in provision.table_requests()}
    assert len(deployed) == len(local) == len(catalog.TABLES)
    for spec in catalog.TABLES:
        cloud = deployed[f"Tables{spec.id}"]
        mine = local[provision.table_name(spec)]
        assert cloud["KeySchema"] == mine["KeySchema"], spec.id
        assert _sorted_attributes(cloud["AttributeDefinitions"]) == _sorted_attributes(mine["AttributeDefinitions"])
        assert cloud["BillingMode"] == mine["BillingMode"] == "PAY_PER_REQUEST"
        assert cloud.get("GlobalSecondaryIndexes", []) == mine.get("GlobalSecondaryIndexes", []), spec.id
        # Locally TTL is enabled on the same attribute right after CreateTable (provision.create_tables).
        assert cloud["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}


@pytest.mark.parametrize("stage", STAGES)
def test_local_queues_pair_with_their_dlqs_as_deployed(assembly: Assembly, stage: str) -> None:
    deployed = _by_logical_name(assembly, stage, "AWS::SQS::Queue")
    local = {request["QueueName"]: request["Attributes"] for request in provision.queue_requests()}
    for spec in catalog.QUEUES:
        cloud, cloud_dlq = deployed[f"{spec.id}Queue"], deployed[f"{spec.id}Dlq"]
        mine = local[provision.queue_name(spec)]
        mine_dlq = local[provision.queue_name(spec, dead_letter=True)]
        redrive = json.loads(mine["RedrivePolicy"])
        assert cloud["RedrivePolicy"]["maxReceiveCount"] == redrive["maxReceiveCount"] == spec.max_receive_count
        # Each queue redrives into its own DLQ, in both worlds.
        assert f"{spec.id}Dlq" in json.dumps(cloud["RedrivePolicy"]["deadLetterTargetArn"])
        assert redrive["deadLetterTargetArn"].endswith(provision.queue_name(spec, dead_letter=True))
        assert cloud["VisibilityTimeout"] == int(mine["VisibilityTimeout"])
        assert cloud["MessageRetentionPeriod"] == int(mine["MessageRetentionPeriod"])
        assert cloud_dlq["MessageRetentionPeriod"] == int(mine_dlq["MessageRetentionPeriod"])
