"""POST /v1/billing/events (R70): signature before parsing, card data refused, plans applied once and in order."""

import json
import secrets as pysecrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from switchboard import clock, settings
from switchboard.crypto import secret_store
from switchboard.logic import billing
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import Answer

CARD = "4242424242424242"  # Luhn-valid test card number


@pytest.fixture
def secret(identity: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The provider's webhook secret in Secrets Manager, as the local stack provisions it."""
    value = pysecrets.token_urlsafe(32)
    arn = boto3.client("secretsmanager").create_secret(
        Name="billing", SecretString=json.dumps({"webhook_secret": value})
    )["ARN"]
    monkeypatch.setenv("BILLING_CREDENTIALS_SECRET", arn)
    settings.reload()
    secret_store.forget()
    yield value
    secret_store.forget()


def _account() -> tuple[str, str]:
    register("olga@example.com")
    token = login("olga@example.com")
    return call("GET", "/v1/account", token=token).body["id"], token


def _event(
    account_id: str, *, type: str = "customer.subscription.updated", plan: str = "pro", event_id: str = "evt_1"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(clock.timestamp()),
        "data": {
            "object": {
                "id": "sub_1Mow",
                "object": "subscription",
                "customer": "cus_Nff",
                "status": "active",
                "metadata": {"account_id": account_id},
                "items": {"data": [{"price": {"lookup_key": plan, "unit_amount": 4900}}]},
            }
        },
    }


def _post(secret: str, payload: Any, *, at: int | None = None, signature: str | None = None) -> Answer:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    header = signature if signature is not None else billing.sign(secret, at or int(clock.timestamp()), raw)
    return call("POST", "/v1/billing/events", raw=raw, headers={"Stripe-Signature": header})


def _plan(token: str) -> str:
    plan: str = call("GET", "/v1/account", token=token).body["plan"]
    return plan


def _billing_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = client.scan(TableName=settings.get().table("ACCOUNTS_TABLE"))["Items"]
    return [i for i in items if i["sk"]["S"].startswith(("BILLING", "BILLEVT#"))]


def test_billing_r70_signed_subscription_sets_the_plan_for_the_next_request(secret: str) -> None:
    account_id, token = _account()
    assert _plan(token) == "free"
    free_limit = int(call("GET", "/v1/account", token=token).headers["RateLimit-Limit"])
    answer = _post(secret, _event(account_id, plan="pro"))
    assert (answer.status, answer.body) == (200, {"status": "applied"})
    assert _plan(token) == "pro"
    # The authorizer read the new plan on this very request: the same session now gets the pro plan's limits.
    assert int(call("GET", "/v1/account", token=token).headers["RateLimit-Limit"]) > free_limit
    stored = {i["sk"]["S"]: i for i in _billing_items()}["BILLING"]
    assert {k: v.get("S") for k, v in stored.items() if "S" in v} == {
        "pk": f"ACCT#{account_id}",
        "sk": "BILLING",
        "account_id": account_id,
        "customer_id": "cus_Nff",
        "subscription_id": "sub_1Mow",
        "plan": "pro",
    }
    event = call("GET", "/v1/audit-events", token=token).body["data"][0]
    assert (event["type"], event["actor"], event["data"]["to"]) == ("account.plan_changed", "system", "pro")


def test_billing_r70_unsigned_wrong_or_stale_signatures_are_401_and_nothing_is_written(secret: str) -> None:
    account_id, token = _account()
    payload = json.dumps(_event(account_id, plan="enterprise"))
    now = int(clock.timestamp())
    for header in (
        "",
        "t=abc,v1=00",
        billing.sign("not the secret", now, payload),
        billing.sign(secret, now - 301, payload),
        billing.sign(secret, now + 301, payload),
        billing.sign(secret, now, payload + " "),
    ):
        answer = _post(secret, payload, signature=header)
        assert (answer.status, answer.body["code"]) == (401, "invalid_signature"), header
    unsigned = call("POST", "/v1/billing/events", raw=payload)
    assert unsigned.status == 401
    assert _billing_items() == []
    assert _plan(token) == "free"
    # The provider signs with the old and new secret while it rolls one: any matching v1 passes.
    rolled = billing.sign("the old secret", now, payload) + "," + billing.sign(secret, now, payload).split(",")[1]
    assert _post(secret, payload, signature=rolled).status == 200


def test_billing_r70_card_numbers_anywhere_are_refused_and_nothing_is_stored(secret: str) -> None:
    account_id, token = _account()
    for card in (CARD, "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005", "6011111111111117"):
        event = _event(account_id, plan="pro")
        event["data"]["object"]["metadata"]["note"] = f"card {card} exp 12/30"
        answer = _post(secret, event)
        assert (answer.status, answer.body["code"]) == (422, "card_data_refused"), card
    assert _billing_items() == []
    assert _plan(token) == "free"
    assert not billing.contains_card_number('{"created": 1700000000, "amount": 4900, "n": "4242424242424241"}')


def test_billing_duplicates_are_no_ops_and_older_events_never_win(secret: str) -> None:
    account_id, token = _account()
    first = _event(account_id, plan="enterprise", event_id="evt_new")
    assert _post(secret, first).body == {"status": "applied"}
    assert _post(secret, first).body == {"status": "duplicate"}
    older = _event(account_id, plan="pro", event_id="evt_old")
    older["created"] -= 60
    assert _post(secret, older).body == {"status": "ignored"}
    assert _plan(token) == "enterprise"
    deleted = _event(account_id, type="customer.subscription.deleted", plan="enterprise", event_id="evt_del")
    assert _post(secret, deleted).body == {"status": "applied"}
    assert _plan(token) == "free"
    plan_changes = [
        e for e in call("GET", "/v1/audit-events", token=token).body["data"] if e["type"] == "account.plan_changed"
    ]
    assert [e["data"]["to"] for e in plan_changes] == ["free", "enterprise"]


def test_billing_unknown_types_accounts_and_plans(secret: str) -> None:
    account_id, token = _account()
    invoice = {"id": "evt_inv", "type": "invoice.paid", "created": int(clock.timestamp()), "data": {"object": {}}}
    assert (_post(secret, invoice).status, _post(secret, invoice).body) == (200, {"status": "ignored"})
    stranger = _event("acct_" + "0" * 26, plan="pro", event_id="evt_stranger")
    assert _post(secret, stranger).body == {"status": "ignored"}
    unknown_plan = _post(secret, _event(account_id, plan="platinum", event_id="evt_plat"))
    assert (unknown_plan.status, unknown_plan.body["code"]) == (422, "unknown_plan")
    garbage = _post(secret, "not json at all")
    assert (garbage.status, garbage.body["code"]) == (400, "invalid_event")
    assert _plan(token) == "free"
    assert _billing_items() == []
