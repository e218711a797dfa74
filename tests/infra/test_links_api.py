"""The media links' own RestApi: binaryMediaTypes `*/*`, mapped at /v1/media on the customer API's mTLS domain,
locked to Cloudflare like it, behind the same web ACL, serving exactly the catalog's link routes (docs/files.md)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import catalog, files
from tests.infra.conftest import STAGES, Assembly

MAPPING_KEY = catalog.LINKS_PREFIX.strip("/")


def _apis(assembly: Assembly, stage: str) -> tuple[str, str]:
    """Logical ids of the customer API and the links API (the stage's two Cloudflare-only RestApis)."""
    return assembly.rest_api_id(stage), assembly.rest_api_id(stage, links=True)


def _of(assembly: Assembly, stage: str, resource_type: str, api_id: str) -> dict[str, dict[str, Any]]:
    return {
        k: r
        for k, r in assembly.resources(stage, resource_type).items()
        if r["Properties"].get("RestApiId") == {"Ref": api_id}
    }


def _path_of(resources: dict[str, dict[str, Any]], resource_ref: Any, api_id: str) -> str:
    """A method's resource as a path ('/{token}'), following ParentId up to the API's root."""
    parts: list[str] = []
    ref = resource_ref
    while isinstance(ref, dict) and "Ref" in ref:
        resource = resources[ref["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        ref = resource["ParentId"]
    assert ref == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    return "/" + "/".join(parts)


@pytest.mark.parametrize("stage", STAGES)
def test_the_links_api_decodes_every_answer_and_is_locked_like_the_customer_api(assembly: Assembly, stage: str) -> None:
    customer_id, links_id = _apis(assembly, stage)
    apis = assembly.resources(stage, "AWS::ApiGateway::RestApi")
    links, customer = apis[links_id]["Properties"], apis[customer_id]["Properties"]
    # `*/*`: API Gateway hands a carrier the bytes whatever its Accept; the customer API keeps the file types only.
    assert links["BinaryMediaTypes"] == ["*/*"] == list(files.LINKS_BINARY_TYPES)
    assert customer["BinaryMediaTypes"] == list(files.API_BINARY_TYPES)
    assert "*/*" not in customer["BinaryMediaTypes"]
    assert links["DisableExecuteApiEndpoint"] is True
    assert links["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert links["Policy"] == customer["Policy"]  # R47: only Cloudflare's addresses may invoke it
    statements = {s["Sid"]: s for s in links["Policy"]["Statement"]}
    assert statements["DenyOutsideCloudflare"]["Effect"] == "Deny"


@pytest.mark.parametrize("stage", STAGES)
def test_the_links_api_serves_exactly_the_link_routes_public_and_the_customer_api_none_of_them(
    assembly: Assembly, stage: str
) -> None:
    customer_id, links_id = _apis(assembly, stage)
    resources = assembly.resources(stage, "AWS::ApiGateway::Resource")
    served = {
        (m["Properties"]["HttpMethod"], _path_of(resources, m["Properties"]["ResourceId"], links_id)): m["Properties"]
        for m in _of(assembly, stage, "AWS::ApiGateway::Method", links_id).values()
    }
    links = [route for route, _ in catalog.routes() if catalog.in_links_api(route.path)]
    expected = {(r.method, catalog.api_resource(r.path)) for r in links} | {
        ("ANY", catalog.api_resource(r.path)) for r in links
    }
    assert set(served) == expected == {("GET", "/{token}"), ("ANY", "/{token}")}
    get = served[("GET", "/{token}")]
    assert get["AuthorizationType"] == "NONE"  # the token is the credential (nag: CAPABILITY_LINK)
    assert get["Integration"]["Type"] == "AWS_PROXY"
    assert "media_links" in str(get["Integration"]["Uri"]).lower().replace("medialinks", "media_links")
    assert served[("ANY", "/{token}")]["Integration"]["Type"] == "MOCK"  # 405 with Allow (R40)
    customer_paths = {
        _path_of(resources, m["Properties"]["ResourceId"], customer_id)
        for m in _of(assembly, stage, "AWS::ApiGateway::Method", customer_id).values()
        if m["Properties"]["ResourceId"] != {"Fn::GetAtt": [customer_id, "RootResourceId"]}
    }
    assert not [p for p in customer_paths if p.startswith(catalog.LINKS_PREFIX.rstrip("/"))]


@pytest.mark.parametrize("stage", STAGES)
def test_the_domain_maps_v1_media_to_the_links_api_and_everything_else_to_the_customer_api(
    assembly: Assembly, stage: str
) -> None:
    customer_id, links_id = _apis(assembly, stage)
    (domain_id,) = assembly.resources(stage, "AWS::ApiGateway::DomainName")
    (root,) = assembly.resources(stage, "AWS::ApiGateway::BasePathMapping").values()
    assert root["Properties"]["RestApiId"] == {"Ref": customer_id}
    assert "BasePath" not in root["Properties"]  # (none): whatever no other mapping claims
    (mapping,) = assembly.resources(stage, "AWS::ApiGatewayV2::ApiMapping").values()
    (links_stage,) = _of(assembly, stage, "AWS::ApiGateway::Stage", links_id)
    # API Gateway picks the longest matching mapping: /v1/media/<token> reaches the links API as /<token>.
    assert mapping["Properties"] == {
        "ApiId": {"Ref": links_id},
        "ApiMappingKey": MAPPING_KEY,
        "DomainName": {"Ref": domain_id},
        "Stage": {"Ref": links_stage},
    }
    assert catalog.api_resource(f"/{MAPPING_KEY}/{{token}}") == "/{token}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_links_stage_is_logged_throttled_behind_the_web_acl_and_after_the_account_logging_role(
    assembly: Assembly, stage: str
) -> None:
    customer_id, links_id = _apis(assembly, stage)
    (customer_stage_id,) = _of(assembly, stage, "AWS::ApiGateway::Stage", customer_id)
    (links_stage_id,) = _of(assembly, stage, "AWS::ApiGateway::Stage", links_id)
    stages = assembly.resources(stage, "AWS::ApiGateway::Stage")
    links, customer = stages[links_stage_id], stages[customer_stage_id]
    for key in ("StageName", "TracingEnabled", "MethodSettings"):
        assert links["Properties"][key] == customer["Properties"][key]
    assert "DestinationArn" in links["Properties"]["AccessLogSetting"]
    accounts = assembly.resources(stage, "AWS::ApiGateway::Account")
    assert set(accounts) <= set(links.get("DependsOn", [])) and accounts
    associations = assembly.resources(stage, "AWS::WAFv2::WebACLAssociation").values()
    acls = {
        a["Properties"]["ResourceArn"]["Fn::Join"][1][1]["Ref"]: a["Properties"]["WebACLArn"]
        for a in associations
        if "Fn::Join" in a["Properties"]["ResourceArn"]
    }
    assert acls[links_id] == acls[customer_id]


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_links_api_may_invoke_media_links(assembly: Assembly, stage: str) -> None:
    customer_id, links_id = _apis(assembly, stage)
    grants = [
        p["Properties"]
        for p in assembly.resources(stage, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "apigateway.amazonaws.com"
        and "medialinks" in str(p["Properties"]["FunctionName"]).lower()
    ]
    assert len(grants) == 1
    source = str(grants[0]["SourceArn"])
    assert links_id in source and customer_id not in source
