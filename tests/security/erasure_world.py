"""An account whose person has outbound, inbound, HELP, broadcast and list traces, and a search for what is left."""

from __future__ import annotations

import importlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3

from functions.erasure_job import handler as erasure_job
from switchboard import clock
from switchboard.dal.closure import plain
from switchboard.logic import closure as lifecycle_logic
from switchboard.logic import recipients as recipients_logic
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call, login, match, register
from tests.integration.messaging.conftest import SIGNING_KEY, Account, make_account
from tests.integration.messaging.test_messages import post_event

OTHER = "+14155550199"  # another person of the same account: nothing of theirs may go


@dataclass
class World:
    """An account (owner session, developer key) and one person in it, with what they wrote and were sent."""

    account_id: str
    owner: str
    key: str
    senders: dict[str, str]
    phone: str
    recipient_id: str = ""
    texts: list[str] = field(default_factory=list)  # every text the person wrote or was sent
    message_ids: list[str] = field(default_factory=list)  # messages to the person

    account: Account | None = None  # set: requests skip the authorizer (a developer API key of this account)

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if self.account is None:
            return call(method, path, body, token=self.key, **kwargs)
        module = importlib.import_module(f"functions.{match(method, path).function.code}.handler")
        return self.account.call(module, method, path, body, **kwargs)

    def text(self, label: str) -> str:
        """A unique text to trace (found in no other item by chance)."""
        value = f"{label} {secrets.token_hex(6)}"
        self.texts.append(value)
        return value

    def inbound(self, body: str, *, phone: str | None = None, channel: str = "sms", label: str = "") -> Any:
        """The carrier posts a signed inbound message from the person (or `phone`)."""
        event = {
            "type": "message.inbound",
            "id": f"sbxevt_{secrets.token_hex(8)}",
            "carrier": "sandbox-a",
            "channel": channel,
            "from": phone or self.phone,
            "to": self.senders[channel],
            "body": body,
            "received_at": clock.rfc3339(clock.now()),
        }
        return post_event("sandbox-a", event, key=SIGNING_KEY)

    def create_recipient(self, phone: str | None = None, *, opt_in: tuple[str, ...] = ("sms",)) -> str:
        created = self.api(
            "POST", "/v1/recipients", {"phone": phone or self.phone, "name": "Ada", "attributes": {"city": "Leeds"}}
        )
        # A number that wrote first is a recipient already (made by its first message, issue 14).
        exists = created.status == 409 and created.body["code"] == "recipient_exists"
        assert exists or created.status == 201, created.body
        rid: str = created.body["existing_id"] if exists else created.body["id"]
        for channel in opt_in:
            consent = {
                "channel": channel,
                "status": "opted_in",
                "source": "web_form",
                "evidence": {"text_version": "v1", "ip": "203.0.113.77", "user_agent": "Firefox/1"},
            }
            answer = self.api("POST", f"/v1/recipients/{rid}/consents", consent)
            assert answer.status == 201, answer.body
        if phone is None:
            self.recipient_id = rid
        return rid

    def send(self, label: str = "hello") -> str:
        answer = self.api(
            "POST", "/v1/messages", {"recipient_id": self.recipient_id, "channel": "sms", "body": self.text(label)}
        )
        assert answer.status == 202, answer.body
        self.message_ids.append(answer.body["id"])
        return str(answer.body["id"])

    def erase(self) -> Any:
        return self.api("DELETE", f"/v1/recipients/{self.recipient_id}")

    def export(self) -> dict[str, Any]:
        answer = call("GET", "/v1/account/export", token=self.owner)
        assert answer.status == 200, answer.body
        document: dict[str, Any] = answer.body
        return document


def new_world(email: str, phone: str = "+14155550142") -> World:
    """A signed-up account with an owner session and a developer API key."""
    register(email)
    owner = login(email)
    key = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=owner).body["key"]
    account = call("GET", "/v1/account", token=owner).body
    senders = {s["channel"]: s["number"] for s in account["senders"]}
    return World(account_id=account["id"], owner=owner, key=key, senders=senders, phone=phone)


def fast_world(phone: str = "+14155550142") -> World:
    """An account made directly (no signup, no owner session: no export), for suites that need many."""
    account = make_account()
    return World(account_id=account.account_id, owner="", key="", senders=account.senders, phone=phone, account=account)


def messaging_items(account_id: str) -> list[dict[str, Any]]:
    """Every item of the account's Messaging partition, and every global item that names the account, plain."""
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName="test-Messaging"):
        items += [plain(i) for i in page["Items"]]
    return [i for i in items if account_id in json.dumps(i, default=str)]


def leftovers(world: World) -> list[str]:
    """Where the person can still be read or linked in the raw table: sealed values opened (with the account's key,
    as the export does), the number's blind index outside the opt-out tombstone, and the erased recipient's id."""
    index = recipients_logic.phone_index(world.account_id, world.phone)
    found: list[str] = []
    for item in messaging_items(world.account_id):
        opened, _ = lifecycle_logic.export_record(world.account_id, "Messaging", item)
        text = json.dumps(opened, default=str)
        raw = json.dumps(item, default=str)
        where = f"{item['sk']}"
        if world.phone in text or any(t in text for t in world.texts):
            found.append(f"{where}: the number or a text opens")
        if index in raw and not str(item["sk"]).startswith("OPTOUT#"):
            found.append(f"{where}: the number's blind index")
        if world.recipient_id and world.recipient_id in raw:
            found.append(f"{where}: the erased recipient's id")
    return found


def tombstone(world: World) -> dict[str, Any] | None:
    """The number's opt-out tombstone, if any."""
    index = recipients_logic.phone_index(world.account_id, world.phone)
    return next((i for i in messaging_items(world.account_id) if i["sk"] == f"OPTOUT#{index}"), None)


def run_erasure_job() -> dict[str, Any]:
    """The scheduled erasure job, once."""
    report: dict[str, Any] = erasure_job.lambda_handler({}, Context())
    return report
