"""The IAM evaluator decides as AWS documents: wildcards, conditions, explicit deny, key and resource policies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra import iam

ROLE = "arn:aws:iam::111111111111:role/Switchboard-dev-Api-FnRole"
ROOT = "arn:aws:iam::111111111111:root"
KEY = "arn:aws:kms:eu-west-1:111111111111:key/k1"
TABLE = "arn:aws:dynamodb:eu-west-1:111111111111:table/T"


def _request(action: str = "dynamodb:GetItem", resource: str = TABLE, **context: Any) -> iam.Request:
    return iam.Request(ROLE, action, resource, {k.lower(): v for k, v in context.items()})


def _allow(**fields: Any) -> iam.Statement:
    return iam.statement({"Effect": "Allow", **fields}, "test")


@pytest.mark.parametrize(
    ("glob", "value", "expected"),
    [
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get?tem", "dynamodb:GetItem", True),
        ("dynamodb:Get", "dynamodb:GetItem", False),
        (f"{TABLE}/index/*", f"{TABLE}/index/gsi1", True),
        (f"{TABLE}/index/*", TABLE, False),
        ("arn:aws:sqs:*:111111111111:q", "arn:aws:sqs:eu-west-1:111111111111:q.fifo", False),
    ],
)
def test_wildcards_match_whole_values(glob: str, value: str, expected: bool) -> None:
    assert iam.matches(glob, value) is expected


def test_actions_are_case_insensitive_resources_are_not() -> None:
    statement = _allow(Action="DynamoDB:getitem", Resource=TABLE)
    assert iam.evaluate(_request(), [statement], None).allowed
    assert not iam.evaluate(_request(resource=TABLE.lower()), [statement], None).allowed


def test_not_action_and_not_resource_invert_the_match() -> None:
    statement = _allow(NotAction="dynamodb:Scan", NotResource=f"{TABLE}/index/*")
    assert iam.evaluate(_request(), [statement], None).allowed
    assert not iam.evaluate(_request("dynamodb:Scan"), [statement], None).allowed
    assert not iam.evaluate(_request(resource=f"{TABLE}/index/gsi1"), [statement], None).allowed


@pytest.mark.parametrize(
    ("operator", "key", "expected", "context", "holds"),
    [
        ("StringEquals", "kms:ViaService", ["sqs.x", "dynamodb.x"], {"kms:ViaService": "dynamodb.x"}, True),
        ("StringEquals", "kms:ViaService", ["sqs.x"], {"kms:ViaService": "dynamodb.x"}, False),
        ("StringEquals", "kms:ViaService", ["sqs.x"], {}, False),  # a missing key never equals
        ("StringEqualsIfExists", "kms:ViaService", ["sqs.x"], {}, True),
        ("StringNotEquals", "kms:ViaService", ["sqs.x"], {}, True),  # ... and is never equal either
        ("StringNotEquals", "kms:ViaService", ["sqs.x"], {"kms:ViaService": "sqs.x"}, False),
        (
            "StringLike",
            "aws:PrincipalArn",
            ["arn:aws:iam::1:role/App-*"],
            {"aws:PrincipalArn": "arn:aws:iam::1:role/App-F"},
            True,
        ),
        ("StringLike", "kms:EncryptionContext:account_id", ["*"], {}, False),
        (
            "ArnLike",
            "aws:PrincipalArn",
            ["arn:aws:iam::1:role/cdk-*"],
            {"aws:PrincipalArn": "arn:aws:iam::1:role/x"},
            False,
        ),
        ("Bool", "kms:GrantIsForAWSResource", ["true"], {"kms:GrantIsForAWSResource": "true"}, True),
        ("Bool", "aws:SecureTransport", ["false"], {"aws:SecureTransport": "true"}, False),
        ("Null", "kms:EncryptionContext:account_id", ["false"], {"kms:EncryptionContext:account_id": "a"}, True),
        ("Null", "kms:EncryptionContext:account_id", ["true"], {"kms:EncryptionContext:account_id": "a"}, False),
        (
            "ForAllValues:StringEquals",
            "kms:EncryptionContextKeys",
            ["account_id"],
            {"kms:EncryptionContextKeys": ["account_id", "x"]},
            False,
        ),
        (
            "ForAllValues:StringEquals",
            "kms:EncryptionContextKeys",
            ["account_id", "x"],
            {"kms:EncryptionContextKeys": ["x"]},
            True,
        ),
        (
            "ForAnyValue:StringEquals",
            "kms:EncryptionContextKeys",
            ["x"],
            {"kms:EncryptionContextKeys": ["account_id", "x"]},
            True,
        ),
    ],
)
def test_condition_operators(
    operator: str, key: str, expected: list[str], context: dict[str, Any], holds: bool
) -> None:
    lowered = {k.lower(): v for k, v in context.items()}
    assert iam.condition_holds(operator, key, expected, lowered) is holds


def test_condition_keys_are_case_insensitive_and_every_key_must_hold() -> None:
    statement = _allow(
        Action="kms:Decrypt",
        Resource=KEY,
        Condition={"StringEquals": {"kms:ViaService": "sqs.x", "kms:CallerAccount": "111111111111"}},
    )
    both = _request("kms:Decrypt", KEY, **{"KMS:VIASERVICE": "sqs.x", "kms:calleraccount": "111111111111"})
    one = _request("kms:Decrypt", KEY, **{"kms:ViaService": "sqs.x"})
    assert iam.evaluate(both, [statement], None).allowed
    assert not iam.evaluate(one, [statement], None).allowed


def test_unknown_operator_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="outside the evaluated subset"):
        iam.condition_holds("DateLessThan", "aws:CurrentTime", ["2030-01-01"], {"aws:currenttime": "2026"})


def test_explicit_deny_wins_over_any_allow() -> None:
    allow = _allow(Action="sqs:*", Resource="*")
    deny = iam.statement(
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        "queue",
    )
    assert iam.evaluate(_request("sqs:SendMessage", "q", **{"aws:SecureTransport": "true"}), [allow], [deny]).allowed
    decision = iam.evaluate(_request("sqs:SendMessage", "q", **{"aws:SecureTransport": "false"}), [allow], [deny])
    assert not decision.allowed
    assert "explicit deny" in decision.reason


def test_same_account_resource_policy_naming_the_role_suffices_but_naming_the_account_does_not() -> None:
    by_role = iam.statement({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:*", "Resource": "*"}, "q")
    by_account = iam.statement({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sqs:*", "Resource": "*"}, "q")
    assert iam.evaluate(_request("sqs:SendMessage", "q"), [], [by_role]).allowed
    assert not iam.evaluate(_request("sqs:SendMessage", "q"), [], [by_account]).allowed


def test_key_policy_delegating_to_the_account_needs_the_role_policy_too() -> None:
    delegate = iam.statement(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.x"}},
        },
        "key",
    )
    grant = _allow(Action="kms:Decrypt", Resource=KEY)
    via = _request("kms:Decrypt", KEY, **{"kms:ViaService": "dynamodb.x"})
    direct = _request("kms:Decrypt", KEY)
    assert iam.evaluate(via, [grant], [delegate], key_policy=True).allowed
    assert not iam.evaluate(via, [], [delegate], key_policy=True).allowed  # the key policy alone does not grant
    assert not iam.evaluate(direct, [grant], [delegate], key_policy=True).allowed  # nor IAM alone
    assert not iam.evaluate(via, [grant], [], key_policy=True).allowed  # no key policy statement, no use


def test_key_policy_naming_the_role_grants_without_an_identity_policy() -> None:
    named = iam.statement({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"}, "key")
    assert iam.evaluate(_request("kms:Decrypt", KEY), [], [named], key_policy=True).allowed


def test_a_decision_names_the_grants_it_used() -> None:
    statement = _allow(Action=["dynamodb:GetItem", "dynamodb:Query"], Resource=[TABLE, f"{TABLE}/index/*"])
    decision = iam.evaluate(_request(), [statement], None)
    assert decision.used == (("test", "dynamodb:GetItem", TABLE),)


def test_not_principal_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="NotPrincipal"):
        iam.statement({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}, "x")


def test_cross_stack_references_resolve_to_the_data_stacks_resources() -> None:
    # Both ways the API stack may name a data resource: a CloudFormation export or an SSM parameter.
    from tests.infra.permissions import Resolver, Stack  # noqa: PLC0415

    arn = {"Fn::GetAtt": ["TablesAccountsAAAA0000", "Arn"]}
    data = {
        "Resources": {
            "TablesAccountsAAAA0000": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "AccountsArnParam": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": {"Fn::Sub": "/switchboard/${AWS::Region}/accounts"}, "Value": arn},
            },
        },
        "Outputs": {"AccountsArn": {"Value": arn, "Export": {"Name": "Data:AccountsArn"}}},
    }
    api = {
        "Parameters": {
            "AccountsArnP": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/switchboard/eu-west-1/accounts"}
        },
        "Resources": {},
    }
    resolver = Resolver(Stack("D", data, "111111111111", "eu-west-1"), Stack("A", api, "111111111111", "eu-west-1"))
    expected = "arn:aws:dynamodb:eu-west-1:111111111111:table/D-TablesAccountsAAAA0000"
    stack = resolver.api
    assert resolver.resolve(stack, {"Fn::ImportValue": "Data:AccountsArn"}) == expected
    assert resolver.resolve(stack, {"Ref": "AccountsArnP"}) == expected
    assert resolver.resolve(stack, {"Fn::Sub": "${AccountsArnP}/index/gsi1"}) == f"{expected}/index/gsi1"
    joined = {"Fn::Join": ["", [{"Fn::ImportValue": "Data:AccountsArn"}, "/index/gsi1"]]}
    assert resolver.resolve(stack, joined) == f"{expected}/index/gsi1"
