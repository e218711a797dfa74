"""Finding 10: every per-account count has a cap that holds under concurrency, frees up again, and every list pages.

Races run 20 real threads through the logic under moto, serialized per request as DynamoDB applies each write
atomically (a condition and its write are one step); nothing else is serialized, so the threads race as Lambda
instances would. The caps are lowered to 10 for the race (configuration, not code: the real caps are 50 and 250,
which would make the fixture slow); the 10-endpoint cap is raced as it is.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from switchboard import clock
from switchboard.auth import Principal
from switchboard.dal import api_keys as keys_dal
from switchboard.dal import caps as caps_dal
from switchboard.dal import cursors
from switchboard.logic import api_keys, caps, members, templates, webhooks
from switchboard.models.account import InviteIn
from switchboard.models.api_keys import ApiKeyIn
from switchboard.models.errors import ProblemError
from switchboard.models.permissions import Role
from switchboard.models.request import RequestMeta
from switchboard.models.templates import TemplateIn
from switchboard.models.webhooks import EndpointIn, EventType
from tests.integration.frozen import FrozenClock
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import mails_to
from tests.integration.moto_atomic import serialized_moto
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

PARALLEL = 20
CAP = 10
OWNER = "owner@example.com"
META = RequestMeta("race", "203.0.113.9", "race")
_n = itertools.count()


@dataclass
class Owner:
    """The owner's principal (for the logic) and session token (for the HTTP routes)."""

    principal: Principal
    token: str


@pytest.fixture
def owner(identity: dict[str, str], frozen: FrozenClock) -> Owner:  # noqa: F811
    register(OWNER)
    token = login(OWNER)
    me = call("GET", "/v1/me", token=token).body
    principal = Principal(
        account_id=me["account_id"],
        principal=me["user_id"],
        role="owner",
        credential="session",
        session_id="ses_race",
        key_id="",
        plan="free",
        mode="test",
        auth_at=int(clock.timestamp()),
    )
    return Owner(principal, token)


def _reauth(owner: Owner) -> None:
    owner.principal = dataclasses.replace(owner.principal, auth_at=int(clock.timestamp()))


def _endpoint(p: Principal) -> str:
    body = EndpointIn(url=f"http://127.0.0.1:9/hook{next(_n)}", events=[EventType("message.status")])
    return webhooks.create_endpoint(p, body, META).id


def _key(p: Principal) -> str:
    return api_keys.create(p, ApiKeyIn(name=f"key {next(_n)}", role=Role.DEVELOPER), META).id


def _invitation(p: Principal) -> str:
    return members.invite(p, InviteIn(email=f"invitee{next(_n)}@example.com", role=Role.AGENT), META).invitation_id


def _template(p: Principal) -> str:
    return templates.create(p, TemplateIn(name=f"t{next(_n)}", language="en", body="Hi {{1}}")).id


CREATES: dict[str, Callable[[Principal], str]] = {
    caps.WEBHOOK_ENDPOINTS: _endpoint,
    caps.API_KEYS: _key,
    caps.INVITATIONS: _invitation,
    caps.TEMPLATES: _template,
}


def _delete(kind: str, p: Principal, object_id: str) -> None:
    if kind == caps.WEBHOOK_ENDPOINTS:
        webhooks.delete_endpoint(p, object_id, META)
    elif kind == caps.API_KEYS:
        api_keys.revoke(p, object_id, META)
    elif kind == caps.INVITATIONS:
        members.remove(p, object_id, META)
    else:
        templates.delete(p, object_id)


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(caps, "LIMITS", MappingProxyType(dict.fromkeys(caps.LIMITS, CAP)))
    yield


def _race(create: Callable[[Principal], str], principal: Principal) -> tuple[Counter[str], list[str]]:
    start = threading.Barrier(PARALLEL)
    made: list[str] = []

    def one(_: int) -> str:
        start.wait()
        try:
            made.append(create(principal))
        except ProblemError as error:
            return f"{error.status} {error.instance_code}"
        return "created"

    with serialized_moto(), ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return Counter(pool.map(one, range(PARALLEL))), made


def test_the_caps_are_the_documented_ones() -> None:
    assert dict(caps.LIMITS) == {"webhook_endpoints": 10, "api_keys": 50, "invitations": 50, "templates": 250}


@pytest.mark.parametrize("kind", list(CREATES))
def test_twenty_concurrent_creates_make_exactly_the_cap(
    owner: Owner,
    frozen: FrozenClock,
    small_caps: None,
    kind: str,
) -> None:
    answers, made = _race(CREATES[kind], owner.principal)
    assert answers == Counter({"created": CAP, "422 limit_exceeded": PARALLEL - CAP}), answers
    assert len(set(made)) == CAP
    assert caps_dal.held(owner.principal.account_id, kind) == CAP
    frozen.advance(3600)  # an hour on: invitations are also rate limited (20 an hour per account)
    _reauth(owner)
    with pytest.raises(ProblemError) as refused:
        CREATES[kind](owner.principal)
    assert refused.value.extra["limit"] == CAP
    assert refused.value.extra["resource"] == kind
    # Deleting one frees exactly one place, which the next create takes.
    _delete(kind, owner.principal, made[0])
    CREATES[kind](owner.principal)
    with pytest.raises(ProblemError):
        CREATES[kind](owner.principal)


def test_the_real_endpoint_cap_holds_under_a_race(owner: Owner) -> None:
    answers, _ = _race(_endpoint, owner.principal)
    assert answers == Counter({"created": 10, "422 limit_exceeded": 10}), answers
    refused = call(
        "POST",
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/x", "events": ["message.status"]},
        token=owner.token,
    )
    assert (refused.status, refused.body["code"], refused.body["limit"]) == (422, "limit_exceeded", 10)


@pytest.mark.parametrize("kind", [caps.API_KEYS, caps.INVITATIONS])
def test_expiry_frees_the_place(owner: Owner, frozen: FrozenClock, small_caps: None, kind: str) -> None:
    for _ in range(CAP):
        CREATES[kind](owner.principal)
    with pytest.raises(ProblemError):
        CREATES[kind](owner.principal)
    frozen.advance(members.INVITE_TTL_S + 1 if kind == caps.INVITATIONS else api_keys.DEFAULT_LIFETIME_S + 1)
    _reauth(owner)
    for _ in range(CAP):
        CREATES[kind](owner.principal)


def test_a_rotated_key_holds_its_place_until_its_grace_ends(
    owner: Owner, frozen: FrozenClock, small_caps: None
) -> None:
    made = [_key(owner.principal) for _ in range(CAP - 1)]
    api_keys.rotate(owner.principal, made[0], 3600, META)  # the successor takes the last place
    with pytest.raises(ProblemError):
        _key(owner.principal)
    frozen.advance(3601)
    _reauth(owner)
    _key(owner.principal)
    assert keys_dal.get(owner.principal.account_id, made[0]) is not None  # expired, still recognised and refused


LISTS = {
    "/v1/api-keys": lambda p: [_key(p) for _ in range(5)],
    "/v1/webhook-endpoints": lambda p: [_endpoint(p) for _ in range(5)],
    "/v1/templates": lambda p: [_template(p) for _ in range(5)],
    "/v1/members": lambda p: [p.principal] + [_invitation(p) for _ in range(4)],
}
ID_FIELD = {"/v1/members": ("user_id", "invitation_id")}


def _ids(page: list[dict[str, str]], path: str) -> list[str]:
    fields = ID_FIELD.get(path, ("id",))
    return [next(item[f] for f in fields if item.get(f)) for item in page]


@pytest.mark.parametrize("path", list(LISTS))
def test_every_list_pages(owner: Owner, path: str) -> None:
    expected = LISTS[path](owner.principal)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        answer = call("GET", path, token=owner.token, query=query)
        assert answer.status == 200, answer.body
        assert len(answer.body["data"]) <= 2
        seen += _ids(answer.body["data"], path)
        pages += 1
        cursor = answer.body.get("next_cursor")  # members leave absent fields out (null elsewhere)
        if cursor is None:
            break
    # Ids made in one frozen millisecond sort by their random part: the order is the ids', each exactly once.
    assert seen == sorted(expected) if path != "/v1/members" else sorted(seen[1:]) == sorted(expected[1:])
    assert len(set(seen)) == len(seen) == len(expected) and pages == 3
    for bad in ("0", "101", "-1", "two"):
        refused = call("GET", path, token=owner.token, query={"limit": bad})
        assert (refused.status, refused.body["code"]) == (422, "validation_failed"), (bad, refused.body)
    garbled = call("GET", path, token=owner.token, query={"cursor": "%%%"})
    assert (garbled.status, garbled.body["code"]) == (422, "validation_failed")
    forged = call("GET", path, token=owner.token, query={"cursor": "JSUl"})  # base64url of "%%%"
    assert (forged.status, forged.body["code"]) == (400, "invalid_cursor")
    # base64url of "after:<id>", the form these lists issued before they used the one cursor codec: a clean 400.
    issued_before = base64.urlsafe_b64encode(f"after:{seen[0]}".encode()).decode().rstrip("=")
    outdated = call("GET", path, token=owner.token, query={"cursor": issued_before})
    assert (outdated.status, outdated.body["code"]) == (400, "invalid_cursor")
    for other in ({"after": "NOT_AN_ID"}, {"seq": "1"}, {"after": seen[0], "seq": "1"}):
        wrong = call("GET", path, token=owner.token, query={"cursor": cursors.encode(other)})
        assert (wrong.status, wrong.body["code"]) == (400, "invalid_cursor"), other


def test_sessions_page_newest_first(owner: Owner) -> None:
    tokens = [login(OWNER) for _ in range(3)]
    first = call("GET", "/v1/sessions", token=tokens[-1], query={"limit": "2"}).body
    rest = call("GET", "/v1/sessions", token=tokens[-1], query={"cursor": first["next_cursor"]}).body
    ids = [s["id"] for s in first["data"] + rest["data"]]
    assert len(set(ids)) == 4 and ids == sorted(ids, reverse=True)
    assert [s["current"] for s in first["data"] + rest["data"]].count(True) == 1
    assert rest["next_cursor"] is None
    assert call("GET", "/v1/sessions", token=owner.token, query={"limit": "101"}).status == 422


def test_a_burst_of_keys_mails_the_owner_once_and_other_notices_still_go_out(owner: Owner) -> None:
    for _ in range(15):
        _key(owner.principal)
    subjects = [m.subject for m in mails_to(OWNER)]
    assert subjects.count("Switchboard: A new API key was created") == 1
    # The burst did not use up the limit other security notices share: a password change is still e-mailed.
    changed = call(
        "POST",
        "/v1/me/password",
        {"current_password": PASSWORD, "new_password": "orbit walnut cascade lumber"},
        token=owner.token,
    )
    assert changed.status == 204, changed.body
    assert "Switchboard: Your password was changed" in [m.subject for m in mails_to(OWNER)]
