"""An account with something in every table (identity, keys, invitations, messaging items), and table snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from switchboard import catalog, clock
from switchboard.crypto import envelope
from switchboard.dal.closure import plain
from tests.integration.identity.gateway import add_member, call, login, register
from tests.integration.identity.support import PASSWORD

PHONE = "+447700900123"


def carrier_lookup(account_id: str) -> str:
    """The pk of the global carrier-id lookup seeded for the account."""
    return f"CMSG#sandbox-a#sbx_{account_id}"


@dataclass
class World:
    """A populated account: its owner's e-mail and session, an admin, an API key, and ids to look for."""

    email: str
    account_id: str
    owner: str  # session token
    admin_email: str
    admin: str  # session token
    key: str  # API key secret
    key_id: str


def tables() -> dict[str, str]:
    """Catalog id -> physical table name (the aws fixture names them test-<id>)."""
    return {t.id: f"test-{t.id}" for t in catalog.TABLES}


def scan(table_id: str) -> list[dict[str, Any]]:
    """Every item of a table, plain."""
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=tables()[table_id]):
        items += [plain(i) for i in page["Items"]]
    return items


def mentions(item: dict[str, Any], account_id: str) -> bool:
    """True when an item is keyed under, or points at, the account."""
    keys = [str(item.get(k, "")) for k in ("pk", "sk", "gsi1pk", "gsi2pk", "gsi2sk")]
    return item.get("account_id") == account_id or any(f"ACCT#{account_id}" in k or account_id in k for k in keys)


def of_account(account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table that belongs to or points at the account."""
    return {t.id: [i for i in scan(t.id) if mentions(i, account_id)] for t in catalog.TABLES}


def _put(table_id: str, item: dict[str, Any]) -> None:
    boto3.resource("dynamodb").Table(tables()[table_id]).put_item(Item=item)


def seed_messaging(account_id: str) -> None:
    """What the messaging module stores (its key and sealing conventions), written directly: a recipient, a
    consent entry, an opt-out tombstone, a message, an accepted attempt and its global carrier-id lookup."""
    pk = f"ACCT#{account_id}"

    def seal(sk: str, field: str, value: str) -> str:
        return envelope.seal(account_id, value, table="Messaging", item_key=f"{pk}|{sk}", field=field)

    recipient_sk = "RCP#rcp_1"
    _put(
        "Messaging",
        {
            "pk": pk,
            "sk": recipient_sk,
            "recipient_id": "rcp_1",
            "phone_sealed": seal(recipient_sk, "phone_sealed", PHONE),
            "name_sealed": seal(recipient_sk, "name_sealed", "Ada Lovelace"),
            "phone_index": "idx-of-the-phone",
        },
    )
    _put("Messaging", {"pk": pk, "sk": "PHONE#idx-of-the-phone", "recipient_id": "rcp_1"})
    _put("Messaging", {"pk": pk, "sk": "CONSENT#rcp_1#cns_1", "channel": "sms", "status": "opted_in"})
    _put("Messaging", {"pk": pk, "sk": "OPTOUT#idx-of-another-phone", "channels": {"sms"}})
    message_sk = "MSG#msg_1"
    _put(
        "Messaging",
        {
            "pk": pk,
            "sk": message_sk,
            "status": "delivered",
            "body_sealed": seal(message_sk, "body_sealed", "Your code is 4242"),
            "gsi1pk": f"{pk}#MSG",
            "gsi1sk": "2026-01-01T00:00:00Z",
        },
    )
    _put(
        "Messaging",
        {
            "pk": pk,
            "sk": "ATT#msg_1#sandbox-a",
            "carrier": "sandbox-a",
            "carrier_message_id": f"sbx_{account_id}",
            "outcome": "accepted",
        },
    )
    _put("Messaging", {"pk": carrier_lookup(account_id), "sk": "CMSG", "account_id": account_id, "message_id": "msg_1"})


def populate(email: str, account_name: str = "Closing Co") -> World:
    """An account with an owner, an admin, a pending invitation, an API key (created idempotently), a reset link,
    a failed login, sessions, and messaging items."""
    register(email, account_name=account_name)
    owner = login(email)
    account_id = call("GET", "/v1/me", token=owner).body["account_id"]
    admin_email = f"admin.{email}"
    add_member(owner, admin_email, "admin")
    admin = login(admin_email)
    assert call("POST", "/v1/members", {"email": f"invitee.{email}", "role": "viewer"}, token=owner).status == 201
    created = call(
        "POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=owner, headers={"Idempotency-Key": "k-1"}
    )
    assert created.status == 201, created.body
    assert call("POST", "/v1/password-resets", {"email": admin_email}).status == 202
    assert call("POST", "/v1/sessions", {"email": email, "password": "not the password at all"}).status == 401
    seed_messaging(account_id)
    return World(
        email=email,
        account_id=account_id,
        owner=owner,
        admin_email=admin_email,
        admin=admin,
        key=created.body["key"],
        key_id=created.body["id"],
    )


def delete_account(token: str, password: str = PASSWORD, **extra: str) -> Any:
    """DELETE /v1/account with the password (and any second factor)."""
    return call("DELETE", "/v1/account", {"password": password, **extra}, token=token)


def restore(email: str, password: str = PASSWORD, **extra: str) -> Any:
    """POST /v1/account/restore."""
    return call("POST", "/v1/account/restore", {"email": email, "password": password, **extra})


def now() -> int:
    """The platform clock in whole seconds."""
    return int(clock.timestamp())
