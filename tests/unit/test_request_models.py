"""Gateway request models: the pydantic models as self-contained draft-4 schemas that accept and refuse alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator

from infra import request_models
from local import openapi


@pytest.fixture(scope="module")
def models() -> dict[tuple[str, str], request_models.RequestModel]:
    return request_models.request_models(openapi.document())


def test_request_models_cover_every_operation_with_a_body_and_match_the_committed_document(
    models: dict[tuple[str, str], request_models.RequestModel],
) -> None:
    document = openapi.document()
    with_body = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert set(models) == with_body
    assert len(with_body) >= 20
    assert request_models.committed() == models


def test_request_models_are_self_contained_draft_4(models: dict[tuple[str, str], request_models.RequestModel]) -> None:
    for model in models.values():
        Draft4Validator.check_schema(model.schema)
        text = json.dumps(model.schema)
        assert '"$ref"' not in text and '"const"' not in text and '"$defs"' not in text, model.name
        assert model.schema["$schema"] == request_models.DRAFT_4
        assert model.name.isalnum()


@pytest.mark.parametrize(
    ("method", "path", "body", "valid"),
    [
        ("POST", "/v1/messages", {"to": "+14155550100", "channel": "sms", "body": "hi"}, True),
        ("POST", "/v1/messages", {"recipient_id": "rcp_1", "to": None, "channel": "sms", "body": "hi"}, True),
        (
            "POST",
            "/v1/messages",
            {"to": "+14155550100", "recipient_id": "rcp_1", "channel": "sms", "body": "hi"},
            False,
        ),
        ("POST", "/v1/messages", {"channel": "sms", "body": "hi"}, False),
        ("POST", "/v1/messages", {"to": "+14155550100", "channel": "sms"}, False),
        ("POST", "/v1/messages", {"to": "4155550100", "channel": "sms", "body": "hi"}, False),
        (
            "POST",
            "/v1/messages",
            {"to": "+14155550100", "channel": "sms", "template": {"name": "t", "language": "en"}},
            False,
        ),
        ("POST", "/v1/messages", {"to": "+14155550100", "channel": "fax", "body": "hi"}, False),
        ("POST", "/v1/messages", {"to": "+14155550100", "channel": "sms", "body": "hi", "extra": 1}, False),
        ("POST", "/v1/signup", {"email": "a@b.example", "password": "x" * 15, "account_name": "A"}, True),
        ("POST", "/v1/signup", {"email": "a@b.example", "password": "x" * 14, "account_name": "A"}, False),
        ("POST", "/v1/recipients", {"phone": "+447700900123"}, True),
        ("POST", "/v1/recipients", {"phone": "07700900123"}, False),
        ("POST", "/v1/api-keys/{key_id}/rotate", {}, True),
        ("POST", "/v1/api-keys/{key_id}/rotate", {"grace_s": -1}, False),
        ("DELETE", "/v1/account", {}, True),
        ("POST", "/v1/billing/events", {"id": "evt_1", "type": "customer.created", "created": 1}, True),
        ("POST", "/v1/billing/events", {"type": "customer.created"}, False),
        # 2020-12 and pydantic take an integral float as an integer; draft 4's `integer` alone would refuse it.
        ("POST", "/v1/billing/events", {"id": "evt_1", "type": "customer.created", "created": 1.0}, True),
        ("POST", "/v1/billing/events", {"id": "evt_1", "type": "customer.created", "created": 1.5}, False),
        ("POST", "/v1/billing/events", {"id": "evt_1", "type": "customer.created", "created": "1"}, False),
    ],
)
def test_request_models_accept_and_refuse_what_the_handlers_do(
    models: dict[tuple[str, str], request_models.RequestModel], method: str, path: str, body: Any, valid: bool
) -> None:
    assert Draft4Validator(models[(method, path)].schema).is_valid(body) is valid


def test_draft4_rewrites_2020_keywords() -> None:
    components = {"Inner": {"title": "Inner", "const": "x"}}
    schema = {"properties": {"a": {"$ref": "#/components/schemas/Inner"}, "n": {"exclusiveMinimum": 0}}}
    assert request_models.draft4(schema, components) == {
        "properties": {"a": {"enum": ["x"]}, "n": {"minimum": 0, "exclusiveMinimum": True}}
    }
    assert request_models.draft4({"type": "integer", "minimum": 0}, {}) == {
        "type": "number",
        "multipleOf": 1,
        "minimum": 0,
    }
    with pytest.raises(ValueError, match="recursive"):
        request_models.draft4({"$ref": "#/components/schemas/Loop"}, {"Loop": {"$ref": "#/components/schemas/Loop"}})
