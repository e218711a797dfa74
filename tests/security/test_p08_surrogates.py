"""P08, P13: a lone UTF-16 surrogate anywhere in a request is a 422 `invalid_unicode`, and nothing is written.

The class: `\\ud800`-`\\udfff` escapes without their pair, in any string value or object name, at any depth, of
the JSON body of every route that takes one (signup, login, API keys, members, webhook endpoints, recipients and
their attributes, consents, lists, messages and their template parameters, broadcasts, ...), and in query and
path parameters. Each answer points at the field; a raw scan of every table is the same after as before (P08: the
recipient was saved before its 500; P13: attribute names were rewritten to U+FFFD). A recipient stored with
surrogates before the fix reads with U+FFFD in their place, on every read, never as a 500.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard import catalog, clock
from switchboard.auth import Principal
from switchboard.logic import recipients as recipients_logic
from switchboard.models.recipients import RecipientIn
from switchboard.text import REPLACEMENT, lone_surrogate_pointer, repaired
from tests.integration.conftest import _handlers_run_as_deployed, aws
from tests.integration.identity.conftest import identity
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import Answer

__all__ = ["_handlers_run_as_deployed", "aws", "identity"]  # fixtures

OWNER = "owner@surrogates.example"
LONE = ["\ud800", "\udbff", "\udc00", "\udfff", "\udabc"]
SIGNED = {"/v1/billing/events", "/v1/carriers/{carrier}/events"}  # a third party signs these: 401 before any read


def _routes(ids: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every route with a JSON body, each with a well-formed document to poison (path → (concrete path, body))."""
    password = "a long enough passphrase 7"  # pragma: allowlist secret
    template = {"name": "order_update", "language": "en", "parameters": ["ok", "fine"]}
    return {
        "POST /v1/signup": ("/v1/signup", {"email": "new@s.example", "password": password, "account_name": "Acme"}),
        "POST /v1/email-verifications": ("/v1/email-verifications", {"token": "t" * 40}),
        "POST /v1/password-resets": ("/v1/password-resets", {"email": "new@s.example"}),
        "POST /v1/password-resets/confirm": ("/v1/password-resets/confirm", {"token": "t" * 40, "password": password}),
        "POST /v1/sessions": ("/v1/sessions", {"email": OWNER, "password": password}),
        "POST /v1/sessions/current/reauth": ("/v1/sessions/current/reauth", {"password": password}),
        "POST /v1/me/password": ("/v1/me/password", {"current_password": password, "new_password": password + "x"}),
        "POST /v1/me/mfa/totp": ("/v1/me/mfa/totp", {"password": password}),
        "POST /v1/me/mfa/totp/activate": ("/v1/me/mfa/totp/activate", {"code": "123456"}),
        "POST /v1/me/mfa/recovery-codes": ("/v1/me/mfa/recovery-codes", {"password": password}),
        "POST /v1/api-keys": ("/v1/api-keys", {"name": "ci", "role": "developer", "mode": "live"}),
        "POST /v1/api-keys/{key_id}/rotate": (f"/v1/api-keys/{ids['key_id']}/rotate", {"grace_s": 60}),
        "POST /v1/account/restore": ("/v1/account/restore", {"token": "t" * 40}),
        "DELETE /v1/account": ("/v1/account", {"password": password, "confirm": "Acme"}),
        "POST /v1/members": ("/v1/members", {"email": "m@s.example", "role": "viewer"}),
        "PATCH /v1/members/{user_id}": (f"/v1/members/{ids['user_id']}", {"role": "viewer"}),
        "POST /v1/invitations/accept": ("/v1/invitations/accept", {"token": "t" * 40, "password": password}),
        "POST /v1/webhook-endpoints": (
            "/v1/webhook-endpoints",
            {"url": "http://127.0.0.1:9/h", "events": ["message.status"], "description": "ops"},
        ),
        "PATCH /v1/account": ("/v1/account", {"message_retention_days": 30}),
        # Rotation parses its body before it looks the endpoint up, like cancel below.
        "POST /v1/webhook-endpoints/{endpoint_id}/rotate-secret": (
            "/v1/webhook-endpoints/whk_00000000000000000000000000/rotate-secret",
            {"grace_s": 60},
        ),
        "POST /v1/recipients": (
            "/v1/recipients",
            {"phone": "+14155550123", "name": "Ada", "attributes": {"plan": "gold", "tier": 2, "note": "vip"}},
        ),
        "POST /v1/recipients/{recipient_id}/consents": (
            f"/v1/recipients/{ids['recipient_id']}/consents",
            {
                "channel": "sms",
                "status": "opted_in",
                "source": "web_form",
                "evidence": {"user_agent": "Mozilla", "text_version": "v1"},
            },
        ),
        "POST /v1/lists": ("/v1/lists", {"name": "Everyone"}),
        "POST /v1/lists/{list_id}/recipients": (
            f"/v1/lists/{ids['list_id']}/recipients",
            {"recipient_ids": [ids["recipient_id"]]},
        ),
        "POST /v1/messages": (
            "/v1/messages",
            {"channel": "whatsapp", "recipient_id": ids["recipient_id"], "template": template},
        ),
        "POST /v1/broadcasts": (
            "/v1/broadcasts",
            {"list_id": ids["list_id"], "channel": "whatsapp", "template": template},
        ),
        # Cancel reads no body; one sent anyway is parsed (and refused) like any other.
        "POST /v1/messages/{message_id}/cancel": ("/v1/messages/msg_00000000000000000000000000/cancel", {"why": "x"}),
        "POST /v1/templates": ("/v1/templates", {"name": "order_update", "language": "en", "body": "Hi {{1}}"}),
        # A file announced as JSON (its bytes as the body are no JSON); completion reads no body, like cancel.
        "POST /v1/files": ("/v1/files", {"filename": "deck.pdf", "content_type": "application/pdf", "size": 10}),
        "POST /v1/files/{file_id}/complete": ("/v1/files/fil_00000000000000000000000000/complete", {"why": "x"}),
        "POST /v1/recipients/{recipient_id}/messages": (
            f"/v1/recipients/{ids['recipient_id']}/messages",
            {"channel": "sms", "body": "Thanks, see you at 10."},
        ),
        # Marking read takes no body; one sent anyway is parsed (and refused) like any other.
        "POST /v1/conversations/{recipient_id}/read": (f"/v1/conversations/{ids['recipient_id']}/read", {"why": "x"}),
    }


def test_the_table_covers_every_route_with_a_json_body() -> None:
    with_body = {
        f"{r.method} {r.path}"
        for r, _ in catalog.json_routes()  # the console's forms are urlencoded (tests/unit/test_console_requests.py)
        if r.method in {"POST", "PATCH", "PUT"} and r.path not in SIGNED
    }
    assert with_body <= set(_routes({"key_id": "k", "user_id": "u", "recipient_id": "r", "list_id": "l"}))


def _snapshot() -> dict[str, set[str]]:
    """Every item of every table, raw (what was written, however it was encoded)."""
    client = boto3.client("dynamodb")
    tables = {}
    for name in sorted(client.list_tables()["TableNames"]):
        items = client.scan(TableName=name, ConsistentRead=True)["Items"]
        # The authorizer moves a session's last_seen_at on every request it lets through: not the route's write.
        kept = [
            {k: v for k, v in item.items() if not (name.endswith("-Sessions") and k == "last_seen_at")}
            for item in items
        ]
        tables[name] = {json.dumps(item, sort_keys=True, default=repr) for item in kept}
    return tables


def _assert_unchanged(before: dict[str, set[str]]) -> None:
    after = _snapshot()
    changed = {name: (before.get(name, set()) ^ items) for name, items in after.items() if items != before.get(name)}
    assert not changed, changed


@pytest.fixture
def world(identity: dict[str, str]) -> dict[str, str]:
    """An owner's session and one of each resource a route's path names."""
    register(OWNER)
    token = login(OWNER)
    created = {
        "recipient_id": call("POST", "/v1/recipients", {"phone": "+14155550100"}, token=token),
        "list_id": call("POST", "/v1/lists", {"name": "All"}, token=token),
        "key_id": call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token),
    }
    ids = {name: answer.body["id"] for name, answer in created.items()}
    ids["user_id"] = call("GET", "/v1/me", token=token).body["user_id"]
    ids["token"] = token
    return ids


@st.composite
def poisoned(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`base` with one lone surrogate put at a drawn place: a value (replaced, at any depth), an object name
    (renamed), or a new member or array item holding it deep down. Returns the document and the pointer to it."""
    document = copy.deepcopy(base)
    around = st.text(st.characters(codec="utf-8"), max_size=5)  # never a surrogate itself
    bad = draw(around) + draw(st.sampled_from(LONE)) + draw(around)
    containers: list[tuple[str, Any]] = [("", document)]
    stack: list[tuple[str, Any]] = [("", document)]
    leaves: list[tuple[str, Any, Any]] = []
    while stack:
        pointer, node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            here = f"{pointer}/{key}"
            if isinstance(value, dict | list):
                containers.append((here, value))
                stack.append((here, value))
            else:
                leaves.append((here, node, key))
    how = draw(st.sampled_from(["value", "name", "deep"]))
    if how == "value" and leaves:
        pointer, node, key = draw(st.sampled_from(leaves))
        node[key] = bad
        return document, pointer
    objects = [(p, c) for p, c in containers if isinstance(c, dict) and c]
    if how == "name" and objects:
        pointer, node = draw(st.sampled_from(objects))
        old = draw(st.sampled_from(sorted(node)))
        node[bad] = node.pop(old)
        return document, f"{pointer}/{repaired(bad)}"
    pointer, node = draw(st.sampled_from(containers))
    depth = draw(st.integers(0, 4))
    value: Any = bad
    inner = ""
    for level in range(depth):
        if level % 2:
            value, inner = [value], f"/0{inner}"
        else:
            value, inner = {"k": value}, f"/k{inner}"
    if isinstance(node, dict):
        node["extra"] = value
        return document, f"{pointer}/extra{inner}"
    node.append(value)
    return document, f"{pointer}/{len(node) - 1}{inner}"


def _send(ids: dict[str, str], route: str, document: Any) -> Answer:
    method = route.split(" ", maxsplit=1)[0]
    path = _routes(ids)[route][0]
    clock.advance(2)  # paced like a client: the rate limits are not under test
    return call(method, path, raw=json.dumps(document), token=ids["token"])


def _assert_refused(answer: Answer, pointer: str, where: str) -> None:
    assert answer.status == 422, (where, answer.status, answer.body)
    assert answer.body["code"] == "invalid_unicode", (where, answer.body)
    assert answer.body["errors"][0]["pointer"] == pointer, (where, answer.body)
    json.dumps(answer.body).encode()  # the answer itself is valid Unicode


def test_a_lone_surrogate_in_a_value_or_a_name_of_every_route_is_422_and_writes_nothing(
    world: dict[str, str],
) -> None:
    before = _snapshot()
    for route, (_, base) in sorted(_routes(world).items()):
        name = next(iter(base))
        for surrogate in ("\ud800", "\udfff"):
            value = {**base, name: f"x{surrogate}"}
            _assert_refused(_send(world, route, value), f"/{name}", route)
            renamed = {f"{surrogate}{name}" if k == name else k: v for k, v in base.items()}
            _assert_refused(_send(world, route, renamed), f"/{REPLACEMENT}{name}", route)
    _assert_unchanged(before)


@settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_property_a_lone_surrogate_anywhere_in_any_body_is_422_pointed_at_and_writes_nothing(
    world: dict[str, str], data: st.DataObject
) -> None:
    routes = _routes(world)
    route = data.draw(st.sampled_from(sorted(routes)))
    document, pointer = data.draw(poisoned(routes[route][1]))
    assert lone_surrogate_pointer(document) == pointer  # the drawn place is the one the API must name
    before = _snapshot()
    _assert_refused(_send(world, route, document), pointer, route)
    _assert_unchanged(before)


def test_a_valid_surrogate_pair_is_a_character_and_is_stored(world: dict[str, str]) -> None:
    # The control: 😀 written as its escaped pair is text like any other, stored and read back as sent.
    raw = '{"phone": "+14155550190", "name": "\\ud83d\\ude00", "attributes": {"\\ud83d\\ude00": "\\ud83d\\ude00"}}'
    created = call("POST", "/v1/recipients", raw=raw, token=world["token"])
    assert created.status == 201, created.body
    assert (created.body["name"], created.body["attributes"]) == ("\U0001f600", {"\U0001f600": "\U0001f600"})


def test_a_lone_surrogate_in_a_query_or_path_parameter_is_422(world: dict[str, str]) -> None:
    before = _snapshot()
    for surrogate in ("\ud800", "\udc00"):
        for path, query in [
            ("/v1/recipients", {"cursor": f"a{surrogate}"}),
            ("/v1/messages", {"status": surrogate}),
            (f"/v1/recipients/rcp_{surrogate}", None),
            (f"/v1/lists/{surrogate}/recipients", None),
        ]:
            clock.advance(2)
            answer = call("GET", path, query=query, token=world["token"])
            assert (answer.status, answer.body["code"]) == (422, "invalid_unicode"), (path, query, answer.body)
    _assert_unchanged(before)


def _stored_before_the_fix(world: dict[str, str], attributes: dict[str, Any], phone: str) -> str:
    """A recipient written as the API wrote it before surrogates were refused (sealed JSON keeps `\\u` escapes)."""
    me = call("GET", "/v1/me", token=world["token"]).body
    principal = Principal(
        account_id=me["account_id"],
        principal=me["user_id"],
        role="owner",
        credential="session",
        session_id="",
        key_id="",
        plan="free",
        mode="live",
        auth_at=0,
    )
    unchecked = RecipientIn.model_construct(phone=phone, name=None, attributes=attributes)
    try:
        created = recipients_logic.create(principal, unchecked)
    except ValueError:
        # Answering it failed (the finding's 500), after it was stored: find it by its number.
        listed = call("GET", "/v1/recipients", token=world["token"]).body["data"]
        return str(next(r["id"] for r in listed if r["phone"] == phone))
    return created.id


STORED = [{"a": "\udc00"}, {"\udc00": "x"}, {"a": "ok\ud800ok", "\udfffb": "\ud800", "c": 1}]


def test_recipients_stored_with_surrogates_before_the_fix_read_repaired_never_500(world: dict[str, str]) -> None:
    token = world["token"]
    for n, attributes in enumerate(STORED):
        recipient_id = _stored_before_the_fix(world, attributes, f"+1415555017{n}")
        expected = repaired(attributes)
        assert REPLACEMENT in json.dumps(expected, ensure_ascii=False)
        added = call("POST", f"/v1/lists/{world['list_id']}/recipients", {"recipient_ids": [recipient_id]}, token=token)
        assert added.status < 300, added.body
        one = call("GET", f"/v1/recipients/{recipient_id}", token=token)
        assert (one.status, one.body["attributes"]) == (200, expected), one.body
        listed = call("GET", "/v1/recipients", token=token)
        assert listed.status == 200, listed.body
        assert next(r for r in listed.body["data"] if r["id"] == recipient_id)["attributes"] == expected
        members = call("GET", f"/v1/lists/{world['list_id']}/recipients", token=token)
        assert members.status == 200, members.body
        clock.advance(2)
