"""Finding 6: the audit trail is tamper-evident against anyone who can write the Audit table (R55).

Under moto, against the real functions: every kind of tampering (a changed field, an overwrite, a deleted event,
the newest events deleted, an inserted event, the chain recomputed with the attacker's key or, by a writer's
role, with the real key) is found by `GET /v1/audit-events/verification` once the anchor job has anchored the
head. From the synthesized templates: only the anchor job can write the anchors bucket, with PutObject only, and
no role can read, export or decrypt with the HMAC key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from switchboard import catalog, clock, settings
from switchboard.dal import anchors
from switchboard.logic import audit
from tests.integration.identity.gateway import call
from tests.integration.identity.support import register, session
from tests.security import audit_attacks as attack

Attack = Callable[[], None]

AccountAttack = Callable[[str], object]


def _unlinked_insert(a: str) -> None:
    attack.put({**attack.item(6, a), "seq": {"N": "7"}, "sk": {"S": "EVT#000000000007"}})


# Each attack on a trail of 6 events anchored at its head (seq 6), with the reason verification gives. Every attack
# runs on its own account of one moto world (one setup, one anchor job run).
ATTACKS: dict[str, tuple[AccountAttack, str]] = {
    "change one field": (lambda a: attack.change(3, account_id=a), "altered"),
    "change the newest event": (lambda a: attack.change(6, "outcome", "failure", account_id=a), "altered"),
    "change the hash too": (lambda a: attack.change(2, "hash", "0" * 64, account_id=a), "altered"),
    "add an attribute": (lambda a: attack.change(4, "smuggled", "never hashed", account_id=a), "altered"),
    "swap a MAC": (lambda a: attack.change(5, "mac", attack.item(4, a)["mac"]["S"], account_id=a), "broken_link"),
    "strip the MAC": (lambda a: attack.change(6, "mac", "", account_id=a), "unkeyed"),
    "delete an event": (lambda a: attack.delete(3, a), "gap"),
    "delete the first event": (lambda a: attack.delete(1, a), "gap"),
    "delete the newest event": (lambda a: attack.delete(6, a), "truncated"),
    "delete the two newest events": (lambda a: (attack.delete(6, a), attack.delete(5, a)), "truncated"),
    "delete every event": (lambda a: [attack.delete(s, a) for s in range(1, 7)], "truncated"),
    "insert an event, unlinked": (_unlinked_insert, "broken_link"),
    "insert and re-link with the real key": (lambda a: attack.insert(3, account_id=a), "anchor_mismatch"),
    "re-chain with the attacker's key": (
        lambda a: attack.rechain(2, key_id=attack.attacker_key(), account_id=a),
        "anchor_mismatch",
    ),
    "re-chain with the real key": (lambda a: attack.rechain(4, key_id=None, account_id=a), "anchor_mismatch"),
    "re-chain only the anchored head": (lambda a: attack.rechain(6, key_id=None, account_id=a), "anchor_mismatch"),
}


def test_every_tampering_of_an_anchored_trail_is_detected(aws: dict[str, str]) -> None:
    accounts = {name: f"acct_{i}" for i, name in enumerate(sorted(ATTACKS))}
    ids = {name: attack.record(6, account_id=account) for name, account in accounts.items()}
    assert attack.run_anchor_job()["anchored"] == len(ATTACKS)
    for name, account in accounts.items():
        assert audit.verify(account).model_dump() == {
            "valid": True,
            "checked": 6,
            "first_bad": None,
            "reason": None,
            "anchored_seq": 6,
        }, name
        tamper, reason = ATTACKS[name]
        tamper(account)
        result = audit.verify(account)
        assert (result.valid, result.reason) == (False, reason), (name, result)
        assert result.first_bad is None or result.first_bad in {*ids[name], "evt_forged"}, name


@pytest.mark.parametrize(
    ("name", "tamper", "reason"),
    [
        ("change an unanchored event", lambda: attack.change(8), "altered"),
        (
            "re-chain the unanchored tail with the attacker's key",
            lambda: attack.rechain(7, key_id=attack.attacker_key()),
            "mac_invalid",
        ),
        (
            "append a forged event",
            lambda: attack.put(
                {
                    **attack.item(8),
                    "seq": {"N": "9"},
                    "sk": {"S": "EVT#000000000009"},
                    "prev_hash": attack.item(8)["hash"],
                    "prev_mac": attack.item(8)["mac"],
                }
            ),
            "altered",
        ),
        (
            "delete the anchored head and re-link",
            lambda: (attack.delete(6), attack.rechain(7, key_id=attack.attacker_key())),
            "gap",
        ),
    ],
)
def test_events_after_the_newest_anchor_are_guarded_by_their_macs(
    aws: dict[str, str], name: str, tamper: Attack, reason: str
) -> None:
    attack.record(6)
    attack.run_anchor_job()
    attack.record(3, start=6)  # 7..9, not anchored yet
    attack.delete(9)
    tamper()
    result = audit.verify(attack.ACCOUNT)
    assert (result.valid, result.reason) == (False, reason), result


def test_the_unanchored_window_is_what_a_writer_role_can_still_rewrite_and_the_next_run_closes_it(
    aws: dict[str, str],
) -> None:
    # The documented limit: a role that may GenerateMac can rewrite (or cut) the events written since the last
    # anchor, at most one schedule period (15 minutes). Once anchored, the same rewrite is detected.
    attack.record(4)
    attack.run_anchor_job()
    attack.record(2, start=4)
    attack.rechain(5, key_id=None)
    assert audit.verify(attack.ACCOUNT).valid
    attack.run_anchor_job()  # anchors the rewritten tail: what was written before the anchor is now fixed
    attack.rechain(5, key_id=None, actor="usr_someone_else")
    assert audit.verify(attack.ACCOUNT).reason == "anchor_mismatch"
    assert catalog.function("audit_anchor_job").schedule == catalog.Schedule("audit_anchor", 900)


def test_the_anchor_job_refuses_to_anchor_a_broken_chain_and_fails_loudly(aws: dict[str, str]) -> None:
    attack.record(3)
    attack.run_anchor_job()
    attack.record(2, start=3)
    attack.rechain(4, key_id=attack.attacker_key())
    with pytest.raises(audit.ChainBroken, match="mac_invalid"):
        attack.run_anchor_job()
    assert anchors.newest(attack.ACCOUNT).seq == 3  # type: ignore[union-attr]
    assert audit.verify(attack.ACCOUNT).reason == "mac_invalid"


def test_the_anchor_job_archives_every_event_once_in_the_locked_bucket(aws: dict[str, str]) -> None:
    attack.record(3)
    attack.record(2, account_id="acct_other")
    assert attack.run_anchor_job() == {"anchored": 2, "unchanged": 0, "broken": {}}
    assert attack.run_anchor_job() == {"anchored": 0, "unchanged": 2, "broken": {}}
    attack.record(1, start=3)
    assert attack.run_anchor_job()["anchored"] == 1
    s3, bucket = boto3.client("s3"), settings.get().audit_anchor_bucket
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(
        [
            anchors.anchor_key(attack.ACCOUNT, 3),
            anchors.anchor_key(attack.ACCOUNT, 4),
            anchors.anchor_key("acct_other", 2),
            anchors.archive_key(attack.ACCOUNT, 1, 3),
            anchors.archive_key(attack.ACCOUNT, 4, 4),
            anchors.archive_key("acct_other", 1, 2),
        ]
    )
    archived = s3.get_object(Bucket=bucket, Key=anchors.archive_key(attack.ACCOUNT, 1, 3))["Body"].read().decode()
    assert [line.count('"mac"') for line in archived.splitlines()] == [1, 1, 1]
    head = s3.head_object(Bucket=bucket, Key=anchors.anchor_key(attack.ACCOUNT, 4))
    assert head["ObjectLockMode"] == "COMPLIANCE"


# Shortening a retention and delete markers are refused by the bucket policy (moto does not enforce bucket policies:
# test_the_bucket_is_locked_in_compliance_mode_and_refuses_every_change checks the policy); moto does enforce these.
@pytest.mark.parametrize("operation", ["overwrite", "delete the version"])
def test_an_anchor_can_be_neither_overwritten_nor_deleted(aws: dict[str, str], operation: str) -> None:
    attack.record(2)
    attack.run_anchor_job()
    s3, bucket, key = boto3.client("s3"), settings.get().audit_anchor_bucket, anchors.anchor_key(attack.ACCOUNT, 2)
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError):
        if operation == "overwrite":  # write-once: every writer asks If-None-Match (the bucket policy insists)
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")
        else:  # compliance mode: no principal deletes a locked version before its retention ends
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert anchors.put_anchor(anchors.newest(attack.ACCOUNT)) is False  # type: ignore[arg-type]
    assert audit.verify(attack.ACCOUNT).valid


def test_expired_events_leave_a_gap_that_verifies_and_only_expired_ones(aws: dict[str, str]) -> None:
    attack.record(3)
    attack.run_anchor_job()
    clock.advance(300 * 86400)
    attack.record(2, start=3)  # 4, 5: 300 days younger
    retention = settings.get().audit_retention_days
    assert [int(i["expires_at"]["N"]) - int(clock.timestamp()) for i in attack.items()][3:] in (
        [retention * 86400] * 2,
        [retention * 86400 - 1] * 2,
    )
    clock.advance(101 * 86400)  # events 1..3 are past the 400-day retention, 4..5 are not
    for seq in (1, 2, 3):  # what DynamoDB's TTL does
        attack.delete(seq)
    assert audit.verify(attack.ACCOUNT).valid
    attack.delete(4)  # not expired: tampering
    assert audit.verify(attack.ACCOUNT).reason == "gap"


def test_the_verification_route_reports_a_deletion_below_the_anchor(identity: dict[str, str]) -> None:
    register("olga@example.com")
    owner = session("olga@example.com")
    account_id = call("GET", "/v1/me", token=owner).body["account_id"]
    attack.run_anchor_job()
    answer = call("GET", "/v1/audit-events/verification", token=owner)
    assert answer.status == 200
    assert answer.body["valid"] is True
    anchored = answer.body["anchored_seq"]
    attack.delete(anchored, account_id=account_id)  # the newest anchored event: e.g. the login that is hidden
    answer = call("GET", "/v1/audit-events/verification", token=owner)
    assert answer.body["valid"] is False
    assert answer.body["reason"] in {"truncated", "gap"}


# --- IAM, from the synthesized dev and prod templates ------------------------------------------------------------

STAGES = ("dev", "prod")


def _statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every role's statements, by role logical id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in resource["Properties"].get("Roles", []):
                found.setdefault(role["Ref"], []).extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _names(value: Any) -> str:
    return repr(value)


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_anchor_job_writes_anchors_and_only_with_put_object(assembly: Any, stage: str) -> None:
    api = assembly.raw_template(stage, "api")
    writers, readers = set(), set()
    for role, statements in _statements(api).items():
        for statement in statements:
            s3_actions = [a for a in _actions(statement) if a.startswith("s3:")]
            resource = json.dumps(statement.get("Resource"))
            if "StatusPageBucket" in resource or "databucketfiles" in resource:
                # The public status page's own bucket (status_page_job) and the Files bucket (files_api, the purge:
                # tests/infra/test_files_bucket.py), never the anchors'.
                continue
            assert all(a in ("s3:PutObject", "s3:GetObject", "s3:ListBucket") for a in s3_actions), (role, s3_actions)
            if "s3:PutObject" in s3_actions:
                writers.add(role)
            if "s3:GetObject" in s3_actions:
                readers.add(role)
    assert [w for w in writers if w.startswith("AuditAnchorJob")] == sorted(writers) and len(writers) == 1
    assert sorted(r.split("Role")[0] for r in readers) == ["AccountApi", "AuditAnchorJob"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_bucket_is_locked_in_compliance_mode_and_refuses_every_change(assembly: Any, stage: str) -> None:
    data = assembly.template(stage, "data")
    [(bucket_id, bucket)] = [
        (i, r) for i, r in data["Resources"].items() if r["Type"] == "AWS::S3::Bucket" and i.startswith("AuditAnchors")
    ]
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 400}
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["DeletionPolicy"] == "Retain"
    [policy] = [
        r
        for r in data["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["WriteOnce"]["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    denied = set(statements["NeverChangedOrDeleted"]["Action"])
    assert {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    } <= denied
    assert statements["NeverChangedOrDeleted"]["Principal"] == {"AWS": "*"}


@pytest.mark.parametrize("stage", STAGES)
def test_the_hmac_key_is_only_ever_used_for_macs(assembly: Any, stage: str) -> None:
    data, api = assembly.template(stage, "data"), assembly.raw_template(stage, "api")
    [key] = [
        r
        for r in data["Resources"].values()
        if r["Type"] == "AWS::KMS::Key" and r["Properties"].get("KeySpec") == "HMAC_256"
    ]
    assert key["Properties"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        actions = _actions(statement)
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:CreateGrant"} & set(
            actions
        )
        if statement["Sid"] == "MacByApiRoles":
            assert sorted(actions) == ["kms:GenerateMac", "kms:VerifyMac"]
    mac_roles: dict[str, set[str]] = {}
    for role, statements in _statements(api).items():
        for statement in statements:
            for action in _actions(statement):
                if action in ("kms:GenerateMac", "kms:VerifyMac"):
                    mac_roles.setdefault(role.split("Role")[0], set()).add(action)
                    assert statement["Condition"] == {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}
    writers = {"".join(p.capitalize() for p in f.name.split("_")) for f in catalog.FUNCTIONS if f.writes_audit}
    assert {r for r, a in mac_roles.items() if "kms:GenerateMac" in a} == writers
    assert {r for r, a in mac_roles.items() if "kms:VerifyMac" in a} == {"AccountApi", "AuditAnchorJob"}
    assert "AuditAnchorJob" not in writers  # the job verifies and anchors, it never writes an event


def test_no_role_can_update_or_delete_audit_items_and_writers_must_condition_their_puts() -> None:
    # There is no IAM condition key for "attribute_not_exists": PutItem could overwrite. The MACs and anchors above
    # are what make an overwrite detectable (test_every_tampering_of_an_anchored_trail_is_detected).
    for spec in catalog.FUNCTIONS:
        ops = spec.tables.get("Audit", frozenset())
        assert not {catalog.Op.UPDATE, catalog.Op.DELETE, catalog.Op.BATCH_WRITE} & ops, spec.name
    assert catalog.table("Audit").append_only
