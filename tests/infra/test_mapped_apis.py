"""The media links' and the console's own RestApis: binaryMediaTypes `*/*`, mapped at /v1/media and /console on the
customer API's mTLS domain, locked to Cloudflare like it, behind the same web ACL, serving exactly their catalog
routes (docs/files.md, docs/console.md)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import catalog, files
from tests.infra.conftest import STAGES, Assembly

MAPPED = (catalog.Api.LINKS, catalog.Api.CONSOLE)
# What each mapped API serves (resource paths below its mapping) and the function behind them.
SERVES = {
    catalog.Api.LINKS: ({("GET", "/{token}"), ("ANY", "/{token}")}, "medialinks"),
    catalog.Api.CONSOLE: (
        {("GET", "/"), ("ANY", "/"), ("GET", "/{proxy+}"), ("POST", "/{proxy+}"), ("ANY", "/{proxy+}")},
        "console",
    ),
}


def _apis(assembly: Assembly, stage: str, api: catalog.Api = catalog.Api.LINKS) -> tuple[str, str]:
    """Logical ids of the customer API and a mapped API (Cloudflare-only RestApis of the same domain)."""
    return assembly.rest_api_id(stage), assembly.rest_api_id(stage, serves=api)


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


@pytest.mark.parametrize("api", MAPPED)
@pytest.mark.parametrize("stage", STAGES)
def test_the_links_api_decodes_every_answer_and_is_locked_like_the_customer_api(
    assembly: Assembly, stage: str, api: catalog.Api
) -> None:
    customer_id, links_id = _apis(assembly, stage, api)
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


@pytest.mark.parametrize("api", MAPPED)
@pytest.mark.parametrize("stage", STAGES)
def test_the_links_api_serves_exactly_the_link_routes_public_and_the_customer_api_none_of_them(
    assembly: Assembly, stage: str, api: catalog.Api
) -> None:
    customer_id, links_id = _apis(assembly, stage, api)
    resources = assembly.resources(stage, "AWS::ApiGateway::Resource")
    served = {
        (m["Properties"]["HttpMethod"], _path_of(resources, m["Properties"]["ResourceId"], links_id)): m["Properties"]
        for m in _of(assembly, stage, "AWS::ApiGateway::Method", links_id).values()
    }
    mine = [route for route, _ in catalog.routes() if catalog.api_of(route.path) is api]
    expected = {(r.method, catalog.api_resource(r.path)) for r in mine} | {
        ("ANY", catalog.api_resource(r.path)) for r in mine
    }
    methods, function = SERVES[api]
    assert set(served) == expected == methods
    for (method, path), properties in served.items():
        if method == "ANY":
            assert properties["Integration"]["Type"] == "MOCK"  # 405 with Allow (R40)
            continue
        # Public: a link's token is its credential (nag: CAPABILITY_LINK); the console's is its cookie.
        assert properties["AuthorizationType"] == "NONE", (method, path)
        assert properties["Integration"]["Type"] == "AWS_PROXY"
        assert function in str(properties["Integration"]["Uri"]).lower().replace("_", "")
        assert "RequestModels" not in properties or api is catalog.Api.LINKS
    customer_paths = {
        _path_of(resources, m["Properties"]["ResourceId"], customer_id)
        for m in _of(assembly, stage, "AWS::ApiGateway::Method", customer_id).values()
        if m["Properties"]["ResourceId"] != {"Fn::GetAtt": [customer_id, "RootResourceId"]}
    }
    assert not [p for p in customer_paths if p == "/" + catalog.mapping_of(api) or catalog.api_of(p) is api]


@pytest.mark.parametrize("api", MAPPED)
@pytest.mark.parametrize("stage", STAGES)
def test_the_domain_maps_v1_media_to_the_links_api_and_everything_else_to_the_customer_api(
    assembly: Assembly, stage: str, api: catalog.Api
) -> None:
    customer_id, links_id = _apis(assembly, stage, api)
    (domain_id,) = assembly.resources(stage, "AWS::ApiGateway::DomainName")
    (root,) = assembly.resources(stage, "AWS::ApiGateway::BasePathMapping").values()
    assert root["Properties"]["RestApiId"] == {"Ref": customer_id}
    assert "BasePath" not in root["Properties"]  # (none): whatever no other mapping claims
    mappings = assembly.resources(stage, "AWS::ApiGatewayV2::ApiMapping").values()
    assert len(mappings) == len(MAPPED)
    (mapping,) = [m for m in mappings if m["Properties"]["ApiId"] == {"Ref": links_id}]
    (links_stage,) = _of(assembly, stage, "AWS::ApiGateway::Stage", links_id)
    # API Gateway picks the longest matching mapping: /v1/media/<token> reaches the links API as /<token>.
    assert mapping["Properties"] == {
        "ApiId": {"Ref": links_id},
        "ApiMappingKey": catalog.mapping_of(api),
        "DomainName": {"Ref": domain_id},
        "Stage": {"Ref": links_stage},
    }
    assert {catalog.api_resource(r.path) for r, _ in catalog.routes() if catalog.api_of(r.path) is api} == {
        path for method, path in SERVES[api][0] if method != "ANY"
    }


@pytest.mark.parametrize("api", MAPPED)
@pytest.mark.parametrize("stage", STAGES)
def test_the_links_stage_is_logged_throttled_behind_the_web_acl_and_after_the_account_logging_role(
    assembly: Assembly, stage: str, api: catalog.Api
) -> None:
    customer_id, links_id = _apis(assembly, stage, api)
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


@pytest.mark.parametrize("api", MAPPED)
@pytest.mark.parametrize("stage", STAGES)
def test_only_the_links_api_may_invoke_media_links(assembly: Assembly, stage: str, api: catalog.Api) -> None:
    customer_id, links_id = _apis(assembly, stage, api)
    grants = [
        p["Properties"]
        for p in assembly.resources(stage, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "apigateway.amazonaws.com"
        and SERVES[api][1] in str(p["Properties"]["FunctionName"]).lower()
    ]
    assert len(grants) == 1
    source = str(grants[0]["SourceArn"])
    assert links_id in source and customer_id not in source
