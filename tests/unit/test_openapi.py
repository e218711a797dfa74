"""The committed OpenAPI document is current, covers every catalog route and takes security from the catalog."""

from __future__ import annotations

import json
from typing import Any

from local import openapi
from switchboard import catalog
from switchboard.models.recipients import E164_PATTERN


def test_openapi_committed_document_is_current() -> None:
    committed = (openapi.ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi.render(), "docs/openapi.json is stale: run make openapi"


def test_openapi_document_covers_every_catalog_route_with_its_security() -> None:
    document = json.loads(openapi.render())
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Switchboard API"
    assert document["info"]["version"] == openapi.version()
    schemes = document["components"]["securitySchemes"]
    assert {name: scheme["scheme"] for name, scheme in schemes.items()} == {"session": "bearer", "apiKey": "bearer"}
    accepted = {catalog.Auth.PUBLIC: [], catalog.Auth.SESSION: ["session"], catalog.Auth.ANY: ["session", "apiKey"]}
    for route, _ in catalog.json_routes():
        operation = document["paths"][route.path][route.method.lower()]
        assert [name for option in operation["security"] for name in option] == accepted[route.auth]
        if route.auth is not catalog.Auth.PUBLIC:
            assert "401" in operation["responses"], (route.method, route.path)
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented == {(r.method, r.path) for r, _ in catalog.json_routes()}
    assert not any(path.startswith("/_local") for path in document["paths"])


def test_openapi_document_leaves_out_the_consoles_html_pages() -> None:
    # The console is a browser app on the same RestApi (catalog.in_console): its routes are deployed, but the
    # document describes the JSON API only.
    document = json.loads(openapi.render())
    console = {(r.method, r.path) for r, _ in catalog.routes() if catalog.in_console(r.path)}
    assert console == {("GET", "/console"), ("GET", "/console/{proxy+}"), ("POST", "/console/{proxy+}")}
    assert not any(catalog.in_console(path) for path in document["paths"])
    assert {(r.method, r.path) for r, _ in catalog.routes()} == {
        *console,
        *((m.upper(), p) for p, ops in document["paths"].items() for m in ops),
    }
    assert catalog.in_console("/console") and catalog.in_console("/console/x")
    assert not catalog.in_console("/consoles") and not catalog.in_console("/v1/console")


def test_openapi_document_uses_the_handlers_pydantic_models() -> None:
    document = json.loads(openapi.render())
    status = document["paths"]["/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert status == {"$ref": "#/components/schemas/StatusOut"}
    assert "StatusOut" in document["components"]["schemas"]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_openapi_every_operation_has_one_real_success_answer_and_problem_errors() -> None:
    document = json.loads(openapi.render())
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        # A Range answer (206) only beside the whole one (200): GET /v1/files/{file_id}/content.
        successes = [status for status in responses if status.startswith("2") and status != "206"]
        assert len(successes) == 1, (method, path, successes)
        assert "206" not in responses or successes == ["200"], (method, path)
        success = responses[successes[0]]
        if successes[0] == "204":
            assert "content" not in success
        else:
            for media in success["content"].values():
                assert media["schema"] != {"type": "string"} or path.endswith(("security.txt", "/events")), (
                    method,
                    path,
                )
        problems = {status: answer for status, answer in responses.items() if status >= "400"}
        assert {"400", "403", "429"} <= set(problems), (method, path)
        for answer in problems.values():
            assert answer["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(problems), (method, path)
    schemas = document["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "code", "request_id"}


def test_openapi_documents_real_statuses_models_and_media_types() -> None:
    paths = json.loads(openapi.render())["paths"]

    def success(method: str, path: str) -> tuple[str, dict[str, Any]]:
        responses = paths[path][method]["responses"]
        status = next(s for s in responses if s.startswith("2"))
        return status, responses[status].get("content", {})

    assert success("post", "/v1/sessions") == (
        "201",
        {"application/json": {"schema": {"$ref": "#/components/schemas/SessionOut"}}},
    )
    assert success("post", "/v1/signup")[0] == "202"
    assert success("delete", "/v1/sessions/current") == ("204", {})
    assert success("get", "/.well-known/security.txt") == ("200", {"text/plain": {"schema": {"type": "string"}}})
    assert "Idempotency-Key" in [p["name"] for p in paths["/v1/messages"]["post"]["parameters"]]
    assert "409" in paths["/v1/recipients"]["post"]["responses"]


def test_openapi_states_the_request_constraints_the_server_enforces() -> None:
    schemas = json.loads(openapi.render())["components"]["schemas"]
    assert schemas["RecipientIn"]["properties"]["phone"]["pattern"] == E164_PATTERN
    assert schemas["MessageIn"]["properties"]["to"]["pattern"] == E164_PATTERN
    for model, field in (("SignupIn", "password"), ("ResetConfirmIn", "new_password"), ("AcceptIn", "password")):
        assert schemas[model]["properties"][field]["minLength"] == 15, model
    assert schemas["LoginIn"]["properties"]["password"]["minLength"] == 1  # older passwords still log in
    one_of = [rule["oneOf"] for rule in schemas["MessageIn"]["allOf"] if "oneOf" in rule]
    assert [[alt["required"] for alt in rule] for rule in one_of] == [[["to"], ["recipient_id"]]]
    # A body, a template or media (the body is then optional: a caption); never a body and a template together.
    [content] = [rule for rule in schemas["MessageIn"]["allOf"] if "anyOf" in rule and "not" in rule]
    assert [alt["required"] for alt in content["anyOf"]] == [["body"], ["template"], ["media"]]
    assert [alt["required"] for alt in content["not"]["allOf"]] == [["body"], ["template"]]
    assert schemas["MessageIn"]["properties"]["media"]["anyOf"][0]["maxItems"] == 10
    assert schemas["ConsentIn"]["properties"]["channel"]["enum"] == ["sms", "whatsapp", "voice"]
    assert schemas["SignupIn"]["additionalProperties"] is False
