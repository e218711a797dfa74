"""Role x route matrix and tenant isolation over every non-public catalog route (R31, R32, R30), data-driven.

Every non-public route of the catalog is tried by every role, with a session and with an API key of that role.
The expectation comes from each catalog route's own declaration (`auth`, `permission`) + `models/permissions.py`:
an API key on a session route → `session_required`; a role without the permission → 403; otherwise 2xx.
Routes with a recipe below are checked strictly (2xx exactly); a route added later without one still joins:
allowed cells must then pass the permission check (no 401/403, no 5xx) and denied cells must be 403 (or 422 when
the body it was sent, `{}`, fails validation first). The summary line prints the coverage.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp

from switchboard import catalog, clock
from switchboard.carriers import sandbox
from switchboard.dal import events as events_dal
from switchboard.dal import files as files_store
from switchboard.logic import files as files_logic
from switchboard.models.permissions import SESSION_ONLY, Role, allows
from tests.integration.files_support import png
from tests.integration.identity.gateway import add_member, call, login, register
from tests.integration.identity.support import PASSWORD, Answer
from tests.integration.messaging.conftest import SIGNING_KEY

ROLES = tuple(Role)
REAUTH_EVERY_S = 200  # well inside the 5-minute window of sensitive routes
_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass
class World:
    """Account A with one member per role (sessions and keys), and account B whose ids A must never reach."""

    users: dict[Role, str] = field(default_factory=dict)  # role -> e-mail
    user_ids: dict[Role, str] = field(default_factory=dict)
    sessions: dict[Role, str] = field(default_factory=dict)
    authed_at: dict[Role, float] = field(default_factory=dict)
    keys: dict[Role, str] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)
    b: dict[str, str] = field(default_factory=dict)  # path parameter name -> an id of account B
    ids: dict[str, str] = field(default_factory=dict)  # messaging objects of account A, by path parameter name

    def session(self, role: Role, *, fresh: bool = False) -> str:
        """The role's session, re-authenticated when sensitive routes would find it stale (or when `fresh`)."""
        if fresh or clock.timestamp() - self.authed_at[role] > REAUTH_EVERY_S:
            assert (
                call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=self.sessions[role]).status
                == 200
            )
            self.authed_at[role] = clock.timestamp()
        return self.sessions[role]

    def relogin(self, role: Role) -> None:
        """A fresh session for the role (after a recipe ended its sessions)."""
        self.sessions[role] = login(self.users[role])
        self.authed_at[role] = clock.timestamp()

    def unique(self, stem: str) -> str:
        return f"{stem}-{next(self.counter)}"

    def owner_key_id(self) -> str:
        created = call(
            "POST", "/v1/api-keys", {"name": self.unique("k"), "role": "viewer"}, token=self.session(Role.OWNER)
        )
        assert created.status == 201
        key_id: str = created.body["id"]
        return key_id

    def spare_member(self) -> str:
        return add_member(self.session(Role.OWNER), f"{self.unique('spare')}@example.com", "viewer")

    def phone(self) -> str:
        return f"+1415556{next(self.counter):04d}"

    def recipient(self) -> str:
        created = call("POST", "/v1/recipients", {"phone": self.phone()}, token=self.session(Role.OWNER))
        assert created.status == 201, created.body
        recipient_id: str = created.body["id"]
        return recipient_id

    def endpoint(self) -> str:
        body = {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}
        created = call("POST", "/v1/webhook-endpoints", body, token=self.session(Role.OWNER))
        assert created.status == 201, created.body
        endpoint_id: str = created.body["id"]
        return endpoint_id

    def file(self) -> str:
        """A ready file of account A (a PNG uploaded as bytes by the owner)."""
        return upload_file(self.session(Role.OWNER))

    def template(self) -> str:
        body = {"name": self.unique("tpl").replace("-", "_").lower(), "language": "en", "body": "Hi {{1}}"}
        created = call("POST", "/v1/templates", body, token=self.session(Role.OWNER))
        assert created.status == 201, created.body
        template_id: str = created.body["id"]
        return template_id


@dataclass(frozen=True)
class Request:
    """What a recipe sends; `after` runs once the answer is in (cleanup); `check` says what is wrong with a 2xx."""

    path: str
    body: Any = None
    after: Callable[[], None] | None = None
    check: Callable[[Answer], str] | None = None


Recipe = Callable[[World, Role, str, bool], Request]  # (world, role, credential token, allowed) -> request


def _own_other_session(world: World, role: Role, token: str, allowed: bool) -> Request:
    if token != world.sessions[role]:
        return Request("/v1/sessions/ses_00000000000000000000000000")
    second = login(world.users[role])
    session_id = next(s["id"] for s in call("GET", "/v1/sessions", token=second).body["data"] if s["current"])
    return Request(f"/v1/sessions/{session_id}")


def _ends_sessions(path: str) -> Recipe:
    def recipe(world: World, role: Role, token: str, allowed: bool) -> Request:
        return Request(path, after=lambda: world.relogin(role) if token == world.sessions[role] else None)

    return recipe


def _totp_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(int(clock.timestamp()))


def _activate(world: World, role: Role, token: str, allowed: bool) -> Request:
    if token != world.sessions[role]:
        return Request("/v1/me/mfa/totp/activate", {"code": "000000"})
    # Re-authenticate now, while a password suffices: once TOTP is on, turn_off must not meet a stale session.
    secret = call("POST", "/v1/me/mfa/totp", token=world.session(role, fresh=True)).body["secret"]

    def turn_off() -> None:
        clock.advance(30)  # the activation spent this step; disabling needs the next one
        body = {"password": PASSWORD, "code": _totp_code(secret)}
        assert call("DELETE", "/v1/me/mfa/totp", body, token=world.session(role)).status == 204

    return Request("/v1/me/mfa/totp/activate", {"code": _totp_code(secret)}, after=turn_off)


def _deactivate(world: World, role: Role, token: str, allowed: bool) -> Request:
    if token != world.sessions[role]:
        return Request("/v1/me/mfa/totp", {"password": PASSWORD, "code": "000000"})
    secret = call("POST", "/v1/me/mfa/totp", token=world.session(role)).body["secret"]
    code = _totp_code(secret)
    assert call("POST", "/v1/me/mfa/totp/activate", {"code": code}, token=world.session(role)).status == 200
    clock.advance(30)
    return Request("/v1/me/mfa/totp", {"password": PASSWORD, "code": _totp_code(secret)})


def _regenerate_recovery_codes(world: World, role: Role, token: str, allowed: bool) -> Request:
    if token != world.sessions[role]:
        return Request("/v1/me/mfa/recovery-codes", {"code": "000000"})
    secret = call("POST", "/v1/me/mfa/totp", token=world.session(role)).body["secret"]
    code = _totp_code(secret)
    assert call("POST", "/v1/me/mfa/totp/activate", {"code": code}, token=world.session(role)).status == 200
    clock.advance(30)

    def turn_off() -> None:
        # With TOTP on, World.session's password-only re-authentication would be refused: prove both here.
        token = world.sessions[role]
        clock.advance(30)  # the regeneration spent this step
        reauth = {"password": PASSWORD, "totp_code": _totp_code(secret)}
        assert call("POST", "/v1/sessions/current/reauth", reauth, token=token).status == 200
        world.authed_at[role] = clock.timestamp()
        clock.advance(30)  # and the re-authentication this one
        body = {"password": PASSWORD, "code": _totp_code(secret)}
        assert call("DELETE", "/v1/me/mfa/totp", body, token=token).status == 204

    return Request("/v1/me/mfa/recovery-codes", {"code": _totp_code(secret)}, after=turn_off)


def _key_path(suffix: str) -> Recipe:
    def recipe(world: World, role: Role, token: str, allowed: bool) -> Request:
        key_id = world.owner_key_id() if allowed else "key_00000000000000000000000000"
        return Request(f"/v1/api-keys/{key_id}{suffix}", {"grace_s": 0} if suffix else None)

    return recipe


def _member_path(body: Any) -> Recipe:
    def recipe(world: World, role: Role, token: str, allowed: bool) -> Request:
        user_id = world.spare_member() if allowed else world.user_ids[Role.VIEWER]
        return Request(f"/v1/members/{user_id}", body)

    return recipe


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/v1/sessions"): lambda w, r, t, a: Request("/v1/sessions"),
    ("DELETE", "/v1/sessions"): _ends_sessions("/v1/sessions"),
    ("DELETE", "/v1/sessions/current"): _ends_sessions("/v1/sessions/current"),
    ("POST", "/v1/sessions/current/reauth"): lambda w, r, t, a: Request(
        "/v1/sessions/current/reauth", {"password": PASSWORD}
    ),
    ("DELETE", "/v1/sessions/{session_id}"): _own_other_session,
    ("GET", "/v1/me"): lambda w, r, t, a: Request("/v1/me"),
    ("POST", "/v1/me/password"): lambda w, r, t, a: Request(
        "/v1/me/password", {"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("POST", "/v1/me/mfa/totp"): lambda w, r, t, a: Request("/v1/me/mfa/totp"),
    ("POST", "/v1/me/mfa/totp/activate"): _activate,
    ("DELETE", "/v1/me/mfa/totp"): _deactivate,
    ("POST", "/v1/me/mfa/recovery-codes"): _regenerate_recovery_codes,
    ("POST", "/v1/api-keys"): lambda w, r, t, a: Request("/v1/api-keys", {"name": w.unique("key"), "role": "viewer"}),
    ("GET", "/v1/api-keys"): lambda w, r, t, a: Request("/v1/api-keys"),
    ("DELETE", "/v1/api-keys/{key_id}"): _key_path(""),
    ("POST", "/v1/api-keys/{key_id}/rotate"): _key_path("/rotate"),
    ("GET", "/v1/account"): lambda w, r, t, a: Request("/v1/account"),
    ("POST", "/v1/members"): lambda w, r, t, a: Request(
        "/v1/members", {"email": f"{w.unique('inv')}@example.com", "role": "viewer"}
    ),
    ("GET", "/v1/members"): lambda w, r, t, a: Request("/v1/members"),
    ("PATCH", "/v1/members/{user_id}"): _member_path({"role": "agent"}),
    ("DELETE", "/v1/members/{user_id}"): _member_path(None),
    ("GET", "/v1/audit-events"): lambda w, r, t, a: Request("/v1/audit-events"),
    ("GET", "/v1/audit-events/verification"): lambda w, r, t, a: Request("/v1/audit-events/verification"),
}


# --- messaging and webhooks -----------------------------------------------------------------------------------

PHONE = "+14155550199"  # the world's opted-in recipient
PNG = png(b"role matrix")
WAV = sandbox.tone_wav(seconds=0.1)


def upload_file(token: str) -> str:
    """A ready file: a PNG sent as the body of POST /v1/files."""
    created = call("POST", "/v1/files", data=PNG, token=token, headers={"Content-Type": "image/png"})
    assert created.status == 201, created.body
    file_id: str = created.body["id"]
    return file_id


MASKED = "+1******0199"


def _phones(role: Role) -> Callable[[Answer], str]:
    """Viewers see every number masked (last 4 only); other roles see it in full."""

    def check(answer: Answer) -> str:
        text = str(answer.body)
        if role is Role.VIEWER:
            return "" if MASKED in text and PHONE not in text else f"viewer saw no mask: {text[:200]}"
        return "" if PHONE in text else f"{role} did not see the number: {text[:200]}"

    return check


def _read(path: str, *, phones: bool = False) -> Recipe:
    def recipe(world: World, role: Role, token: str, allowed: bool) -> Request:
        filled = _PARAM.sub(lambda m: world.ids[m.group(1)], path)
        return Request(filled, check=_phones(role) if phones else None)

    return recipe


def _write(path: str, body: Callable[[World], Any]) -> Recipe:
    def recipe(world: World, role: Role, token: str, allowed: bool) -> Request:
        return Request(_PARAM.sub(lambda m: world.ids[m.group(1)], path), body(world))

    return recipe


def _erase_recipient(world: World, role: Role, token: str, allowed: bool) -> Request:
    recipient_id = world.recipient() if allowed else world.ids["recipient_id"]
    return Request(f"/v1/recipients/{recipient_id}")


def _delete_endpoint(world: World, role: Role, token: str, allowed: bool) -> Request:
    endpoint_id = world.endpoint() if allowed else world.ids["endpoint_id"]
    return Request(f"/v1/webhook-endpoints/{endpoint_id}")


def _cancel_message(world: World, role: Role, token: str, allowed: bool) -> Request:
    message_id = world.ids["message_id"]
    if allowed:  # a message of its own to cancel: a canceled one answers 409
        body = {"recipient_id": world.ids["recipient_id"], "channel": "sms", "body": "Hi"}
        sent = call("POST", "/v1/messages", body, token=token)
        assert sent.status == 202, sent.body
        message_id = sent.body["id"]
    return Request(f"/v1/messages/{message_id}/cancel")


def _delete_template(world: World, role: Role, token: str, allowed: bool) -> Request:
    template_id = world.template() if allowed else world.ids["template_id"]
    return Request(f"/v1/templates/{template_id}")


def _delete_file(world: World, role: Role, token: str, allowed: bool) -> Request:
    file_id = world.file() if allowed else world.ids["file_id"]
    return Request(f"/v1/files/{file_id}")


def _file_bytes(answer: Answer) -> str:
    return "" if answer.body == PNG else f"not the uploaded bytes: {str(answer.body)[:80]}"


def _lists_file(world: World) -> Callable[[Answer], str]:
    def check(answer: Answer) -> str:
        listed = [m["file_id"] for m in answer.body.get("media") or []]
        return "" if listed == [world.ids["file_id"]] else f"the message lists {listed}"

    return check


FILE_RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/files"): _write("/v1/files", lambda w: {"content_type": "image/png", "size": len(PNG)}),
    # A completed file's completion answers it again (a client's retry): 200 for every role that may send.
    ("POST", "/v1/files/{file_id}/complete"): _write("/v1/files/{file_id}/complete", lambda w: None),
    ("GET", "/v1/files"): _read("/v1/files"),
    ("GET", "/v1/files/{file_id}"): _read("/v1/files/{file_id}"),
    ("GET", "/v1/files/{file_id}/content"): lambda w, r, t, a: Request(
        f"/v1/files/{w.ids['file_id']}/content", check=_file_bytes
    ),
    ("DELETE", "/v1/files/{file_id}"): _delete_file,
}


def _recording_bytes(answer: Answer) -> str:
    return "" if answer.body == WAV else f"not the recorded audio: {str(answer.body)[:80]}"


def _recording_meta(world: World) -> Callable[[Answer], str]:
    def check(answer: Answer) -> str:
        return "" if answer.body.get("message_id") == world.ids["message_id"] else f"not its call: {answer.body}"

    return check


def _recording_listed(world: World) -> Callable[[Answer], str]:
    def check(answer: Answer) -> str:
        listed = [r.get("id") for r in answer.body.get("data", [])]
        return "" if world.ids["recording_id"] in listed else f"its recording not listed: {answer.body}"

    return check


RECORDING_RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/v1/recordings"): lambda w, r, t, a: Request("/v1/recordings", check=_recording_listed(w)),
    ("GET", "/v1/recordings/{recording_id}"): lambda w, r, t, a: Request(
        f"/v1/recordings/{w.ids['recording_id']}", check=_recording_meta(w)
    ),
    ("GET", "/v1/recordings/{recording_id}/content"): lambda w, r, t, a: Request(
        f"/v1/recordings/{w.ids['recording_id']}/content", check=_recording_bytes
    ),
}

MESSAGING_RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/recipients"): _write("/v1/recipients", lambda w: {"phone": w.phone()}),
    ("GET", "/v1/recipients"): _read("/v1/recipients", phones=True),
    ("GET", "/v1/recipients/{recipient_id}"): _read("/v1/recipients/{recipient_id}", phones=True),
    ("DELETE", "/v1/recipients/{recipient_id}"): _erase_recipient,
    ("POST", "/v1/recipients/{recipient_id}/consents"): _write(
        "/v1/recipients/{recipient_id}/consents", lambda w: {"channel": "voice", "status": "opted_in", "source": "api"}
    ),
    ("GET", "/v1/recipients/{recipient_id}/consents"): _read("/v1/recipients/{recipient_id}/consents"),
    ("POST", "/v1/lists"): _write("/v1/lists", lambda w: {"name": w.unique("list")}),
    ("POST", "/v1/lists/{list_id}/recipients"): _write(
        "/v1/lists/{list_id}/recipients", lambda w: {"recipient_ids": [w.ids["recipient_id"]]}
    ),
    ("GET", "/v1/lists/{list_id}/recipients"): _read("/v1/lists/{list_id}/recipients"),
    # With the world's file (MMS): whoever may send may send media, and the answer lists it.
    ("POST", "/v1/messages"): lambda w, r, t, a: Request(
        "/v1/messages",
        {"recipient_id": w.ids["recipient_id"], "channel": "sms", "body": "Hi", "media": [w.ids["file_id"]]},
        check=_lists_file(w),
    ),
    ("GET", "/v1/messages"): _read("/v1/messages", phones=True),
    ("GET", "/v1/messages/{message_id}"): _read("/v1/messages/{message_id}", phones=True),
    ("POST", "/v1/messages/{message_id}/cancel"): _cancel_message,
    ("POST", "/v1/broadcasts"): _write(
        "/v1/broadcasts", lambda w: {"list_id": w.ids["list_id"], "channel": "sms", "body": "Hi all"}
    ),
    ("POST", "/v1/webhook-endpoints"): _write(
        "/v1/webhook-endpoints", lambda w: {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}
    ),
    ("GET", "/v1/webhook-endpoints"): _read("/v1/webhook-endpoints"),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): _delete_endpoint,
    # grace_s 0: every allowed role rotates the same endpoint, and a third overlapping secret would be a 409.
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): _write(
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", lambda w: {"grace_s": 0}
    ),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): _read("/v1/webhook-endpoints/{endpoint_id}/deliveries"),
    ("POST", "/v1/templates"): _write(
        "/v1/templates",
        lambda w: {"name": w.unique("tpl").replace("-", "_").lower(), "language": "en", "body": "Hi {{1}}"},
    ),
    ("GET", "/v1/templates"): _read("/v1/templates"),
    ("GET", "/v1/templates/{template_id}"): _read("/v1/templates/{template_id}"),
    ("DELETE", "/v1/templates/{template_id}"): _delete_template,
    # Conversations: the world's recipient wrote in (_messaging), so the SMS reply window is open.
    ("GET", "/v1/conversations"): _read("/v1/conversations", phones=True),
    ("POST", "/v1/conversations/{recipient_id}/read"): _write("/v1/conversations/{recipient_id}/read", lambda w: None),
    ("GET", "/v1/recipients/{recipient_id}/messages"): _read("/v1/recipients/{recipient_id}/messages"),
    ("POST", "/v1/recipients/{recipient_id}/messages"): lambda w, r, t, a: Request(
        f"/v1/recipients/{w.ids['recipient_id']}/messages",
        {"channel": "sms", "body": "Thanks for writing", "media": [w.ids["file_id"]]},
        check=_lists_file(w),
    ),
}
RECIPES.update(MESSAGING_RECIPES)
RECIPES.update(FILE_RECIPES)
RECIPES.update(RECORDING_RECIPES)


def _messaging(token: str) -> dict[str, str]:
    """An opted-in recipient, a list holding it, a message to it and a webhook endpoint, by path parameter name."""
    recipient = call("POST", "/v1/recipients", {"phone": PHONE}, token=token)
    assert recipient.status == 201, recipient.body
    recipient_id = recipient.body["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call("POST", f"/v1/recipients/{recipient_id}/consents", consent, token=token).status == 201
    list_id = call("POST", "/v1/lists", {"name": "everyone"}, token=token).body["id"]
    assert call("POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [recipient_id]}, token=token).status < 300
    sent = call("POST", "/v1/messages", {"recipient_id": recipient_id, "channel": "sms", "body": "Hi"}, token=token)
    assert sent.status == 202, sent.body
    body = {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}
    endpoint = call("POST", "/v1/webhook-endpoints", body, token=token)
    assert endpoint.status == 201, endpoint.body
    template = call("POST", "/v1/templates", {"name": "welcome", "language": "en", "body": "Hi {{1}}"}, token=token)
    assert template.status == 201, template.body
    _writes_in(token, PHONE)
    return {
        "recipient_id": recipient_id,
        "list_id": list_id,
        "message_id": sent.body["id"],
        "endpoint_id": endpoint.body["id"],
        "template_id": template.body["id"],
        "file_id": upload_file(token),
        "recording_id": store_recording(token, sent.body["id"]),
    }


def store_recording(token: str, message_id: str) -> str:
    """A call recording of the account's message, kept as media_worker keeps one (the carrier side is not the
    subject here: tests/integration/live/test_live_recordings.py)."""
    account = call("GET", "/v1/account", token=token).body
    recording_id = files_store.recording_id(message_id)
    kept = files_logic.store_bytes(
        account["id"], recording_id, WAV, source="recording", plan=account["plan"], message_id=message_id
    )
    assert kept is not None
    return recording_id


def _writes_in(token: str, phone: str) -> None:
    """`phone` texts the account's SMS number (a signed sandbox event): a conversation, and an open reply window."""
    senders = {s["channel"]: s["number"] for s in call("GET", "/v1/account", token=token).body["senders"]}
    event = {
        "type": "message.inbound",
        "id": f"sbxevt_{phone}",
        "carrier": "sandbox-a",
        "channel": "sms",
        "from": phone,
        "to": senders["sms"],
        "body": "Is my order ready?",
        "received_at": clock.rfc3339(clock.now()),
    }
    raw = json.dumps(event)
    signature = sandbox.sign(SIGNING_KEY, raw.encode(), int(clock.timestamp()))
    answer = call("POST", "/v1/carriers/sandbox-a/events", raw=raw, headers={sandbox.SIGNATURE_HEADER: signature})
    assert answer.status == 200, answer.body


def _protected() -> list[catalog.Route]:
    return [route for route, _ in catalog.routes() if route.auth is not catalog.Auth.PUBLIC]


def _generic(route: catalog.Route) -> Request:
    path = _PARAM.sub(lambda m: f"{m.group(1).split('_')[0][:3]}_00000000000000000000000000", route.path)
    return Request(path, {} if route.method in {"POST", "PATCH", "PUT"} else None)


def _world() -> World:
    world = World()
    register("owner@example.com", "Alpha Co")
    world.users[Role.OWNER] = "owner@example.com"
    world.relogin(Role.OWNER)
    world.user_ids[Role.OWNER] = call("GET", "/v1/me", token=world.sessions[Role.OWNER]).body["user_id"]
    for role in ROLES[1:]:
        email = f"{role.value}@example.com"
        world.users[role] = email
        world.user_ids[role] = add_member(world.sessions[Role.OWNER], email, role.value)
        world.relogin(role)
    for role in ROLES:
        created = call(
            "POST", "/v1/api-keys", {"name": f"{role}-key", "role": role.value}, token=world.session(Role.OWNER)
        )
        assert created.status == 201
        world.keys[role] = created.body["key"]
    world.ids = _messaging(world.session(Role.OWNER))
    return world


def _check(answer: Answer, *, strict: bool, key_on_session_route: bool, allowed: bool, route: catalog.Route) -> str:
    """Empty when the answer is what the cell expects, else why not."""
    code = (answer.body or {}).get("code") if isinstance(answer.body, dict) else None
    if key_on_session_route:
        ok = answer.status in {401, 403} and code == "session_required"
    elif not allowed:
        ok = answer.status == 403 or (not strict and answer.status == 422 and route.method in {"POST", "PATCH", "PUT"})
    elif strict:
        ok = 200 <= answer.status < 300
    else:
        ok = answer.status not in {401, 403} and answer.status < 500
    return "" if ok else f"{answer.status} {code}"


def test_role_matrix_every_protected_route_every_role_session_and_key(identity: dict[str, str], queues: Any) -> None:
    world = _world()
    failures: list[str] = []
    strict_cells = weak_cells = 0
    routes = _protected()
    for route in routes:
        if route.permission in SESSION_ONLY:
            assert route.auth is catalog.Auth.SESSION, f"{route.method} {route.path} must be a session route"
        recipe = RECIPES.get((route.method, route.path))
        for role, credential in itertools.product(ROLES, ("session", "api_key")):
            token = world.session(role) if credential == "session" else world.keys[role]
            key_on_session_route = credential == "api_key" and route.auth is catalog.Auth.SESSION
            allowed = route.permission is None or allows(role, route.permission)
            request = recipe(world, role, token, allowed and not key_on_session_route) if recipe else _generic(route)
            answer = call(route.method, request.path, request.body, token=token)
            # Pace like a well-behaved client (5 requests/s of platform time): the free plan's bucket is not under test.
            clock.advance(0.2)
            problem = _check(
                answer,
                strict=recipe is not None,
                key_on_session_route=key_on_session_route,
                allowed=allowed,
                route=route,
            )
            if not problem and request.check is not None and 200 <= answer.status < 300:
                problem = request.check(answer)
            if problem:
                failures.append(f"{route.method} {route.path} {role} {credential}: {problem}")
            if request.after is not None and 200 <= answer.status < 300:
                request.after()
            strict_cells += recipe is not None
            weak_cells += recipe is None
    cells = strict_cells + weak_cells
    print(
        f"role matrix: {len(routes)} routes x {len(ROLES)} roles x 2 credentials = {cells} cells "
        f"({strict_cells} strict, {weak_cells} permission-only)"
    )
    assert not failures, "\n".join(failures)


# --- tenant isolation ---------------------------------------------------------------------------------------------


def _account_b() -> dict[str, str]:
    """Objects of account B, by the path parameter names that address them."""
    register("bea@example.com", "Beta Ltd")
    owner_b = login("bea@example.com")
    member_b = add_member(owner_b, "dev-b@example.com", "developer")
    key_b = call("POST", "/v1/api-keys", {"name": "b", "role": "developer"}, token=owner_b).body
    session_b = next(s["id"] for s in call("GET", "/v1/sessions", token=owner_b).body["data"] if s["current"])
    messaging = _messaging(owner_b)
    # An event of B's log (its messages' status changes are logged whether or not it has an endpoint).
    event_b = events_dal.newest(call("GET", "/v1/me", token=owner_b).body["account_id"])
    assert event_b is not None
    return {
        **messaging,
        "event_id": event_b,
        "session_id": session_b,
        "key_id": key_b["id"],
        "user_id": member_b,
        "owner_b": owner_b,
        "key_b": key_b["key"],
    }


def test_tenant_isolation_every_route_with_an_id_of_another_account_is_404(
    identity: dict[str, str], queues: Any
) -> None:
    register("owner@example.com", "Alpha Co")
    owner_a = login("owner@example.com")
    key_a = call("POST", "/v1/api-keys", {"name": "a", "role": "owner"}, token=owner_a).body["key"]
    b = _account_b()
    failures: list[str] = []
    checked = weak = 0
    bodies = {
        ("PATCH", "/v1/members/{user_id}"): {"role": "viewer"},
        ("POST", "/v1/api-keys/{key_id}/rotate"): {},
        # Valid bodies, so that only the id of another account can be what refuses them.
        ("POST", "/v1/recipients/{recipient_id}/consents"): {"channel": "sms", "status": "opted_out", "source": "api"},
        ("POST", "/v1/lists/{list_id}/recipients"): {"recipient_ids": ["rcp_00000000000000000000000000"]},
        ("POST", "/v1/recipients/{recipient_id}/messages"): {"channel": "sms", "body": "Thanks for writing"},
    }
    for route in _protected():
        params = _PARAM.findall(route.path)
        if not params:
            continue
        known = all(p in b for p in params)
        path = _PARAM.sub(lambda m: b.get(m.group(1), f"{m.group(1)[:3]}_00000000000000000000000000"), route.path)
        body = bodies.get((route.method, route.path), {} if route.method in {"POST", "PATCH", "PUT"} else None)
        credentials = [owner_a] + ([key_a] if route.auth is catalog.Auth.ANY else [])
        for token in credentials:
            answer = call(route.method, path, body, token=token)
            ok = answer.status == 404 or (not known and answer.status == 422)
            if not ok or (known and answer.body.get("code") != "not_found"):
                failures.append(f"{route.method} {route.path}: {answer.status} {answer.body}")
            checked += 1
            weak += not known
    print(f"tenant isolation: {checked} requests with account B's ids ({weak} with a stand-in id)")
    assert not failures, "\n".join(failures)
    assert weak == 0, "every route with an id is tried with a real id of account B"
    # Nothing of B moved: its session, key and member still work.
    # Account B's file id in a send of account A: the answer of an unknown id (no oracle), nothing queued.
    a = _messaging(owner_a)
    refusals = []
    for file_id in (b["file_id"], "fil_00000000000000000000000000"):
        body = {"recipient_id": a["recipient_id"], "channel": "sms", "media": [file_id]}
        answer = call("POST", "/v1/messages", body, token=owner_a)
        refusals.append((answer.status, answer.body["code"], answer.body["detail"], answer.body["errors"]))
    assert refusals[0] == refusals[1]
    assert refusals[0][:2] == (422, "media_not_found")
    assert call("GET", "/v1/me", token=b["owner_b"]).status == 200
    assert call("GET", "/v1/account", token=b["key_b"]).status == 200
    members_b = call("GET", "/v1/members", token=b["owner_b"]).body["data"]
    assert [(m["user_id"], m["role"]) for m in members_b if m["user_id"] == b["user_id"]] == [
        (b["user_id"], "developer")
    ]
