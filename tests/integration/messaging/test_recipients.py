"""Recipients, consent ledger and lists through the recipients_api handler under moto."""

import boto3

from functions.recipients_api import handler as recipients_api
from tests.integration.messaging.conftest import Account

PHONE = "+14155552671"


def test_recipient_create_seals_phone_and_name_and_reads_back(account: Account, aws: dict[str, str]) -> None:
    created = account.call(
        recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "name": "Ada", "attributes": {"tier": "gold"}}
    )
    assert created.status == 201, created.body
    body = created.body
    assert body["id"].startswith("rcp_")
    assert (body["phone"], body["name"], body["country"]) == (PHONE, "Ada", "US")
    assert body["consent"] == {"sms": None, "whatsapp": None, "voice": None}
    assert body["attributes"] == {"tier": "gold"}
    read = account.call(recipients_api, "GET", f"/v1/recipients/{body['id']}")
    assert read.status == 200
    assert read.body == body
    raw = boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Items"]
    text = str(raw)
    assert "4155552671" not in text
    assert "Ada" not in text
    assert "gold" not in text


def test_recipient_same_phone_twice_is_409_with_existing_id(account: Account) -> None:
    first = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    again = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    assert again.status == 409
    assert again.body["code"] == "recipient_exists"
    assert again.body["existing_id"] == first.body["id"]


def test_recipient_same_phone_in_two_accounts_is_two_recipients(account: Account, other_account: Account) -> None:
    assert account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE}).status == 201
    assert other_account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE}).status == 201


def test_recipient_invalid_phone_is_422_with_pointer(account: Account) -> None:
    for phone in ("4155552671", "+1555000000", "+1 415 555 2671", "+99999999999"):
        answer = account.call(recipients_api, "POST", "/v1/recipients", {"phone": phone})
        assert answer.status == 422, phone
        assert answer.body["errors"][0]["pointer"] == "/phone"


def test_recipient_attributes_are_bounded(account: Account) -> None:
    many = {f"k{i}": i for i in range(51)}
    answer = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "attributes": many})
    assert answer.status == 422
    answer = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "attributes": {"a": "x" * 5000}})
    assert answer.status == 422


def test_recipient_injection_like_values_are_stored_literally(account: Account) -> None:
    weird = {"#a = :b OR": "{{7*7}}", "f": '=HYPERLINK("x")'}
    created = account.call(
        recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "name": "{{7*7}}", "attributes": weird}
    )
    assert created.status == 201
    assert created.body["name"] == "{{7*7}}"
    assert created.body["attributes"] == weird


def test_recipient_viewer_sees_masked_number_and_cannot_write(account: Account) -> None:
    created = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    seen = account.call(recipients_api, "GET", f"/v1/recipients/{created.body['id']}", role="viewer")
    assert seen.status == 200
    assert seen.body["phone"] == "+1******2671"
    listed = account.call(recipients_api, "GET", "/v1/recipients", role="viewer")
    assert [r["phone"] for r in listed.body["data"]] == ["+1******2671"]
    refused = account.call(recipients_api, "POST", "/v1/recipients", {"phone": "+14155550000"}, role="viewer")
    assert refused.status == 403
    assert account.call(recipients_api, "POST", "/v1/recipients", {"phone": "+14155550000"}, role="agent").status == 201


def test_recipient_of_another_account_is_404(account: Account, other_account: Account) -> None:
    created = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    rid = created.body["id"]
    assert other_account.call(recipients_api, "GET", f"/v1/recipients/{rid}").status == 404
    assert other_account.call(recipients_api, "DELETE", f"/v1/recipients/{rid}").status == 404
    consent = {"channel": "sms", "status": "opted_in", "source": "api"}
    assert other_account.call(recipients_api, "POST", f"/v1/recipients/{rid}/consents", consent).status == 404
    assert other_account.call(recipients_api, "GET", f"/v1/recipients/{rid}/consents").status == 404
    assert account.call(recipients_api, "GET", "/v1/recipients/rcp_nothing").status == 404


def test_recipient_list_paginates_with_cursor(account: Account, other_account: Account) -> None:
    for n in range(5):
        assert account.call(recipients_api, "POST", "/v1/recipients", {"phone": f"+1415555{n:04d}"}).status == 201
    first = account.call(recipients_api, "GET", "/v1/recipients", query={"limit": "3"})
    assert len(first.body["data"]) == 3
    assert first.body["next_cursor"]
    second = account.call(
        recipients_api, "GET", "/v1/recipients", query={"limit": "3", "cursor": first.body["next_cursor"]}
    )
    phones = [r["phone"] for r in first.body["data"] + second.body["data"]]
    assert sorted(phones) == [f"+1415555{n:04d}" for n in range(5)]
    # A cursor is bound to its account: another account cannot page through this one's recipients.
    stolen = other_account.call(recipients_api, "GET", "/v1/recipients", query={"cursor": first.body["next_cursor"]})
    assert (stolen.status, stolen.body["code"]) == (400, "invalid_cursor")
    zero = account.call(recipients_api, "GET", "/v1/recipients", query={"limit": "0"})
    # Every list answers one rule (this one used to answer 400 invalid_limit).
    assert (zero.status, zero.body["code"]) == (422, "validation_failed")
    assert account.call(recipients_api, "GET", "/v1/recipients", query={"cursor": "!!"}).status == 400


def test_consent_ledger_is_append_only_latest_wins_oldest_first(account: Account, aws: dict[str, str]) -> None:
    rid = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE}).body["id"]
    evidence = {
        "text_version": "v3",
        "ip": "203.0.113.9",
        "user_agent": "Firefox",
        "captured_at": "2026-11-01T10:00:00Z",
    }
    steps = [
        {"channel": "sms", "status": "opted_in", "source": "web_form", "evidence": evidence},
        {"channel": "whatsapp", "status": "opted_in", "source": "api"},
        {"channel": "sms", "status": "opted_out", "source": "api"},
    ]
    for step in steps:
        answer = account.call(recipients_api, "POST", f"/v1/recipients/{rid}/consents", step)
        assert answer.status == 201, answer.body
        assert answer.body["status"] == step["status"]
    current = account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]
    assert current == {"sms": "opted_out", "whatsapp": "opted_in", "voice": None}
    ledger = account.call(recipients_api, "GET", f"/v1/recipients/{rid}/consents").body["data"]
    assert [(e["channel"], e["status"]) for e in ledger] == [(s["channel"], s["status"]) for s in steps]
    assert ledger[0]["evidence"] == evidence
    assert "203.0.113.9" not in str(boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Items"])
    audit = boto3.client("dynamodb").scan(TableName=aws["AUDIT_TABLE"])["Items"]
    assert sum(1 for e in audit if e.get("type", {}).get("S") == "consent.changed") == 3


def test_consent_rejects_unknown_channel_and_status(account: Account) -> None:
    rid = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE}).body["id"]
    for bad in (
        {"channel": "email", "status": "opted_in", "source": "api"},
        {"channel": "sms", "status": "maybe", "source": "api"},
        {"channel": "sms", "status": "opted_in", "source": "Bad Source!"},
    ):
        assert account.call(recipients_api, "POST", f"/v1/recipients/{rid}/consents", bad).status == 422


def test_recipient_erase_removes_personal_data_and_keeps_opt_out(account: Account, aws: dict[str, str]) -> None:
    created = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE, "name": "Ada"})
    rid = created.body["id"]
    lst = account.call(recipients_api, "POST", "/v1/lists", {"name": "vip"}).body["id"]
    account.call(recipients_api, "POST", f"/v1/lists/{lst}/recipients", {"recipient_ids": [rid]})
    account.call(
        recipients_api,
        "POST",
        f"/v1/recipients/{rid}/consents",
        {"channel": "sms", "status": "opted_out", "source": "api"},
    )
    assert account.call(recipients_api, "DELETE", f"/v1/recipients/{rid}").status == 204
    assert account.call(recipients_api, "GET", f"/v1/recipients/{rid}").status == 404
    items = boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Items"]
    assert not [i for i in items if rid in str(i)]
    assert account.call(recipients_api, "GET", f"/v1/lists/{lst}/recipients").body["data"] == []
    # The number comes back: it starts opted out of sms, as the person asked.
    again = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    assert again.status == 201
    assert again.body["consent"]["sms"] == "opted_out"


def test_lists_add_batches_and_reports_foreign_ids(account: Account, other_account: Account) -> None:
    mine = [
        account.call(recipients_api, "POST", "/v1/recipients", {"phone": f"+1415555{n:04d}"}).body["id"]
        for n in range(3)
    ]
    theirs = other_account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE}).body["id"]
    lst = account.call(recipients_api, "POST", "/v1/lists", {"name": "all"})
    assert lst.status == 201
    list_id = lst.body["id"]
    added = account.call(
        recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [*mine, theirs, "rcp_nope"]}
    )
    assert added.status == 200
    assert added.body == {"list_id": list_id, "added": 3, "not_found": [theirs, "rcp_nope"]}
    page = account.call(recipients_api, "GET", f"/v1/lists/{list_id}/recipients", query={"limit": "2"})
    rest = account.call(
        recipients_api, "GET", f"/v1/lists/{list_id}/recipients", query={"cursor": page.body["next_cursor"]}
    )
    assert sorted(r["id"] for r in page.body["data"] + rest.body["data"]) == sorted(mine)
    assert other_account.call(recipients_api, "GET", f"/v1/lists/{list_id}/recipients").status == 404
    assert (
        other_account.call(
            recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [theirs]}
        ).status
        == 404
    )
