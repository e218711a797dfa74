"""R61 in the templates: the key-encryption keys are in no PITR and no backup, the deletion receipts' signing key is
usable for signing by the purge job alone, and the purge job holds no more than the shred and the log need."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard import catalog
from tests.infra import iam, permissions
from tests.infra.conftest import STAGES, Assembly

KEK = catalog.KEK_TABLE


def _model(assembly: Assembly, stage: str) -> permissions.Model:
    return permissions.build(
        stage, assembly.template(stage, "data"), assembly.raw_template(stage, "api"), assembly.configs[stage]
    )


@pytest.fixture(scope="module")
def models(assembly: Assembly) -> dict[str, permissions.Model]:
    return {stage: _model(assembly, stage) for stage in STAGES}


def _allowed(model: permissions.Model, function: str, action: str, resource: str, **context: Any) -> bool:
    check = permissions._request(model, function, action, resource, context=context, label=f"{function} {action}")
    return permissions.decide(model, function, check).allowed


@pytest.mark.parametrize("stage", STAGES)
def test_the_kek_table_is_in_no_pitr_and_no_backup_but_protected_like_the_others(
    assembly: Assembly, stage: str
) -> None:
    tables = assembly.resources(stage, "AWS::DynamoDB::Table")
    ((kek_id, kek),) = [(i, t) for i, t in tables.items() if i.startswith(f"Tables{KEK}")]
    assert [t.id for t in catalog.TABLES if not t.restorable] == [KEK]
    # R61 over R58/R59: a PITR or backup copy of a KEK would bring a shredded account back.
    assert kek["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    (selection,) = assembly.resources(stage, "AWS::Backup::BackupSelection").values()
    selected = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
    assert kek_id not in selected
    others = [i for i in tables if i != kek_id]
    assert others
    assert all(i in selected for i in others)
    # Its durability: CMK-encrypted, deletion protection and retention as every table of the stage.
    assert kek["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    assert kek["Properties"].get("DeletionProtectionEnabled", False) is assembly.configs[stage].deletion_protection
    assert kek["DeletionPolicy"] == ("Retain" if stage == "prod" else "Delete")
    # The finding is acknowledged with its reason (docs/cdk-nag.md), nothing else about the table is.
    metadata = json.dumps(
        [json.loads(path.read_text()) for path in assembly.outdir.glob(f"Switchboard-{stage}-Data.metadata.json")]
    )
    assert "AwsSolutions-DDB3" in metadata
    assert "R61 over R58" in metadata


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_purge_job_signs_receipts_and_anyone_in_the_account_reads_the_public_key(
    assembly: Assembly, models: dict[str, permissions.Model], stage: str
) -> None:
    ((_, key),) = [(i, k) for i, k in assembly.resources(stage, "AWS::KMS::Key").items() if i.startswith("KeysReceipt")]
    assert key["Properties"]["KeySpec"] == "ECC_NIST_P256"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    # KMS cannot rotate asymmetric keys (docs/runbooks.md: a new key is a new published kid).
    assert not key["Properties"].get("EnableKeyRotation", False)
    model = models[stage]
    receipt_key = model.keys["Receipt"]
    signers = {
        f
        for f in model.roles
        if _allowed(model, f, "kms:Sign", receipt_key, **{"kms:SigningAlgorithm": "ECDSA_SHA_256"})
    }
    assert signers == {"purge_job"}
    # Not with another algorithm, and no function may decrypt, encrypt or verify with it.
    assert not _allowed(model, "purge_job", "kms:Sign", receipt_key, **{"kms:SigningAlgorithm": "ECDSA_SHA_384"})
    readers = {f for f in model.roles if _allowed(model, f, "kms:GetPublicKey", receipt_key)}
    assert readers == {"purge_job", "deletion_receipts_api"}
    # The key policy itself: Sign for the signer's role pattern only, GetPublicKey for the account (with IAM).
    policy = json.dumps(key["Properties"]["KeyPolicy"])
    assert "SignByThePurgeJobOnly" in policy
    assert "PurgeJobRole*" in policy
    role = f"arn:aws:iam::{model.account}:role/Switchboard-{stage}-Api-AccountApiRole0000"
    allow_everything = iam.statements(
        {"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}, "an admin's identity policy"
    )

    def as_admin(action: str) -> bool:
        context = {
            "kms:signingalgorithm": "ECDSA_SHA_256",
            "aws:principalarn": role,
            "kms:calleraccount": model.account,
        }
        request = iam.Request(role, action, receipt_key, context)
        return iam.evaluate(request, allow_everything, model.key_policies[receipt_key], key_policy=True).allowed

    # Even a role whose own policy allows every KMS action cannot sign: the key policy names the purge job only.
    assert not as_admin("kms:Sign")
    assert as_admin("kms:GetPublicKey")  # anyone in the account may read (and publish) the public key


@pytest.mark.parametrize("stage", STAGES)
def test_the_purge_job_holds_exactly_what_the_shred_the_log_and_the_receipt_need(
    models: dict[str, permissions.Model], stage: str
) -> None:
    model = models[stage]
    kek_table = model.tables[KEK][1]
    keyring = model.tables["Keyring"][1]
    granted = {
        action
        for action in (
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:BatchWriteItem",
        )
        if _allowed(model, "purge_job", action, kek_table)
    }
    # Delete KEKs by key; write and read back the deletion log. Never read a KEK, scan the table or update one.
    assert granted == {"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"}
    envelope = model.keys["Envelope"]
    context = {"kms:EncryptionContext:account_id": "acct_1", "kms:EncryptionContextKeys": ["account_id"]}
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"):
        assert not _allowed(model, "purge_job", action, envelope, **context), action  # it shreds; it never opens
    assert _allowed(model, "purge_job", "dynamodb:DeleteItem", keyring)
    # The functions that open data keys read KEKs and nothing more; only the creators and the migration put them.
    for function in model.roles:
        spec = next((f for f in catalog.FUNCTIONS if f.name == function), None)
        if spec is None or function == "purge_job":
            continue
        for action in ("dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:Query"):
            assert not _allowed(model, function, action, kek_table), (function, action)
        assert _allowed(model, function, "dynamodb:GetItem", kek_table) is (KEK in spec.tables), function
        deletes = _allowed(model, function, "dynamodb:DeleteItem", kek_table)
        assert deletes is (function == "kek_migration_job"), function
