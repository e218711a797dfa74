"""Every deployed method with a body validates it with the request model generated from its pydantic model (R36)."""

from __future__ import annotations

from typing import Any

import pytest

from infra import request_models
from local import openapi
from switchboard import catalog
from tests.infra.conftest import STAGES, Assembly, resource_paths


@pytest.mark.parametrize("stage", STAGES)
def test_every_method_with_a_body_has_its_generated_request_model(assembly: Assembly, stage: str) -> None:
    document = openapi.document()  # generated now from the handlers' pydantic models
    expected = request_models.request_models(document)
    with_body = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert set(expected) == with_body
    resources = assembly.template(stage, "api")["Resources"]
    paths = resource_paths(resources)
    modelled: dict[tuple[str, str], dict[str, Any]] = {}
    methods = 0
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGateway::Method" or resource["Properties"]["HttpMethod"] == "ANY":
            continue  # ANY: a path's 405 catch-all, which takes no body
        methods += 1
        props = resource["Properties"]
        models = props.get("RequestModels")
        if models is None:
            continue  # no body (a GET, or a console form: its API root's methods have no Ref to a resource)
        key = (props["HttpMethod"], paths[props["ResourceId"]["Ref"]])
        assert set(models) == {"application/json"}, key
        model = resources[models["application/json"]["Ref"]]
        assert model["Type"] == "AWS::ApiGateway::Model"
        modelled[key] = model["Properties"]
    assert methods == len(catalog.routes())
    assert set(modelled) == with_body
    for key, model in modelled.items():
        assert model["Name"] == expected[key].name
        assert model["ContentType"] == "application/json"
        assert model["Schema"] == expected[key].schema, key
