"""The committed OpenAPI document is current, covers every catalog route and takes security from the catalog."""

from __future__ import annotations

import json

from infra import catalog
from local import openapi


def test_openapi_committed_document_is_current() -> None:
    committed = (openapi.ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi.render(), "docs/openapi.json is stale: run make openapi"


def test_openapi_document_covers_every_catalog_route_with_its_security() -> None:
    document = json.loads(openapi.render())
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Switchboard API"
    assert document["info"]["version"] == openapi.version()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for route, _ in catalog.routes():
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["security"] == ([] if route.auth is catalog.Auth.PUBLIC else [{"bearer": []}])
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented == {(r.method, r.path) for r, _ in catalog.routes()}
    assert not any(path.startswith("/_local") for path in document["paths"])


def test_openapi_document_uses_the_handlers_pydantic_models() -> None:
    document = json.loads(openapi.render())
    status = document["paths"]["/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert status == {"$ref": "#/components/schemas/StatusOut"}
    assert "StatusOut" in document["components"]["schemas"]
