"""Finding 12: template sends are bounded (count and length of parameters) and name an approved template of the
account, in its language, with exactly its number of parameters; the registry itself refuses malformed templates.

Every refused send is a 422 problem with a pointer, nothing is queued, and the daily quota is not charged.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import clock, settings
from switchboard.carriers import sandbox
from switchboard.dal import clients, quota
from switchboard.dal import templates as templates_dal
from switchboard.dal.keys import account_pk
from switchboard.models.templates import MAX_PARAMETER_CHARS
from tests.integration.messaging.conftest import Account, Queues, add_template, make_account, opted_in
from tests.integration.messaging.test_messages import work

PHONE = "+14155552671"
GREETING = "Hello {{1}}, your order {{2}} is ready."


def _send(account: Account, template: dict[str, Any], **fields: Any) -> Any:
    body = {"channel": "whatsapp", "template": template, **fields}
    return account.call(messages_api, "POST", "/v1/messages", body)


@pytest.fixture
def ready(account: Account, queues: Queues) -> tuple[Account, str]:
    """An account with the approved template `greeting` (en_US, two parameters) and an opted-in recipient."""
    add_template(account, "greeting", "en_US", GREETING)
    return account, opted_in(account, recipients_api, PHONE, ("whatsapp",))


def _charged(account: Account) -> int:
    """Messages charged to today's quota (the Limits counter quota.take adds to)."""
    key = {"pk": {"S": f"ACCT#{account.account_id}"}, "sk": {"S": f"QUOTA#MSG#{clock.now().strftime('%Y-%m-%d')}"}}
    item = clients.dynamodb().get_item(TableName=settings.get().table(quota.TABLE_ENV), Key=key).get("Item")
    return int(item["used"]["N"]) if item else 0


PARAMETER_VARIANTS: dict[str, tuple[list[str], str]] = {
    "none for two": ([], "/template/parameters"),
    "one for two": (["Ada"], "/template/parameters"),
    "three for two": (["Ada", "A-1", "extra"], "/template/parameters"),
    "twenty-one": (["x"] * 21, "/template/parameters"),
    "the reported 20 x 3,100 characters": (["x" * 3100] * 20, "/template/parameters/0"),
    "one over 1,024 characters": (["x" * (MAX_PARAMETER_CHARS + 1), "A-1"], "/template/parameters/0"),
    "an empty parameter": (["", "A-1"], "/template/parameters/0"),
    "a newline": (["Ada\nBcc: all", "A-1"], "/template/parameters/0"),
    "a tab": (["Ada", "A\t1"], "/template/parameters/1"),
    "five spaces": (["Ada     Lovelace", "A-1"], "/template/parameters/0"),
    "rendered text over 1,600 characters": (["x" * 1000, "y" * 1000], "/template/parameters"),
}


@pytest.mark.parametrize("variant", list(PARAMETER_VARIANTS))
def test_parameters_are_bounded_and_counted(ready: tuple[Account, str], queues: Queues, variant: str) -> None:
    account, rid = ready
    parameters, pointer = PARAMETER_VARIANTS[variant]
    template = {"name": "greeting", "language": "en_US", "parameters": parameters}
    refused = _send(account, template, recipient_id=rid)
    assert refused.status == 422, refused.body
    assert refused.body["errors"][0]["pointer"] == pointer, refused.body
    assert queues.drain("WhatsappSend") == []
    assert _charged(account) == 0


def test_the_longest_accepted_parameters_send_and_render(ready: tuple[Account, str], queues: Queues) -> None:
    account, rid = ready
    sandbox.reset()
    parameters = ["Ada    Lovelace", "x" * MAX_PARAMETER_CHARS]  # four spaces, and the longest parameter
    answer = _send(account, {"name": "greeting", "language": "en_US", "parameters": parameters}, recipient_id=rid)
    assert answer.status == 202, answer.body
    work(queues, "WhatsappSend")
    delivered = [d for d in sandbox.deliveries() if d.message_id == answer.body["id"]]
    # The text carriers get is the template rendered: plain substitution, nothing evaluated.
    assert [d.body for d in delivered] == [GREETING.replace("{{1}}", parameters[0]).replace("{{2}}", parameters[1])]


NAME_VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "unknown name": ({"name": "nope", "language": "en_US"}, "/template/name"),
    "another language": ({"name": "greeting", "language": "pt_BR"}, "/template/language"),
    "language without region": ({"name": "greeting", "language": "en"}, "/template/language"),
    "another account's template": ({"name": "theirs", "language": "en_US"}, "/template/name"),
    "pending review": ({"name": "pending_one", "language": "en_US"}, "/template/name"),
    "deleted": ({"name": "gone", "language": "en_US"}, "/template/name"),
}


@pytest.mark.parametrize("variant", list(NAME_VARIANTS))
def test_only_the_accounts_approved_templates_send(ready: tuple[Account, str], queues: Queues, variant: str) -> None:
    account, rid = ready
    other = make_account()
    add_template(other, "theirs", "en_US", "Hi {{1}} {{2}}")
    # A template that is not approved (deployed, every new template waits for the carrier's review).
    pending = templates_dal.TemplateItem(
        account_pk(account.account_id),
        templates_dal.template_sk("pending_one", "en_US"),
        template_id="tpl_pending",
        account_id=account.account_id,
        name="pending_one",
        language="en_US",
        category="utility",
        body="Hi {{1}} {{2}}",
        parameters=2,
        status="pending",
        created_by="usr_owner",
        created_at=0,
    )
    templates_dal.put(pending, cap=250)
    gone = add_template(account, "gone", "en_US", "Hi {{1}} {{2}}")
    assert account.call(messages_api, "DELETE", f"/v1/templates/{gone['id']}").status == 204
    named, pointer = NAME_VARIANTS[variant]
    for path, body in (
        ("/v1/messages", {"recipient_id": rid}),
        ("/v1/broadcasts", {"list_id": _list(account, rid)}),
    ):
        request = {"channel": "whatsapp", "template": {**named, "parameters": ["Ada", "A-1"]}, **body}
        refused = account.call(messages_api, "POST", path, request)
        assert (refused.status, refused.body["code"]) == (422, "template_not_approved"), (path, refused.body)
        assert refused.body["errors"][0]["pointer"] == pointer
    assert queues.drain("WhatsappSend") == []
    assert _charged(account) == 0


def _list(account: Account, rid: str) -> str:
    list_id: str = account.call(recipients_api, "POST", "/v1/lists", {"name": "wa"}).body["id"]
    account.call(recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [rid]})
    return list_id


TEMPLATE_VARIANTS: dict[str, dict[str, Any]] = {
    "a gap in the placeholders": {"body": "Hi {{1}} and {{3}}"},
    "placeholders from 2": {"body": "Hi {{2}}"},
    "21 placeholders": {"body": " ".join(f"{{{{{n}}}}}" for n in range(1, 22))},
    "a body over 1,024 characters": {"body": "x" * 1025},
    "an empty body": {"body": ""},
    "an upper-case name": {"name": "Greeting"},
    "a name with a hash": {"name": "a#b"},
    "a bad language": {"language": "english"},
    "an unknown category": {"category": "spam"},
    "an unknown field": {"status": "approved"},
}


@pytest.mark.parametrize("variant", list(TEMPLATE_VARIANTS))
def test_the_registry_refuses_malformed_templates(account: Account, queues: Queues, variant: str) -> None:
    body = {"name": "ok_name", "language": "en_US", "body": "Hi {{1}}"} | TEMPLATE_VARIANTS[variant]
    refused = account.call(messages_api, "POST", "/v1/templates", body)
    assert (refused.status, refused.body["code"]) == (422, "validation_failed"), refused.body
    assert account.call(messages_api, "GET", "/v1/templates").body["data"] == []


def test_the_registry_is_per_account_and_by_role(account: Account, queues: Queues) -> None:
    other_account = make_account()
    created = add_template(account, "greeting", "en_US", GREETING)
    assert (created["status"], created["parameters"]) == ("approved", 2)  # the sandbox approves at once
    again = account.call(messages_api, "POST", "/v1/templates", {"name": "greeting", "language": "en_US", "body": "x"})
    assert (again.status, again.body["code"]) == (409, "template_exists")
    add_template(account, "greeting", "pt_BR", "Olá {{1}}")  # the same name in another language is another template
    path = f"/v1/templates/{created['id']}"
    assert account.call(messages_api, "GET", path, role="viewer").body["body"] == GREETING
    assert other_account.call(messages_api, "GET", path).status == 404
    assert other_account.call(messages_api, "DELETE", path).status == 404
    assert other_account.call(messages_api, "GET", "/v1/templates").body["data"] == []
    for role in ("agent", "viewer"):
        body = {"name": "mine", "language": "en", "body": "x"}
        assert account.call(messages_api, "POST", "/v1/templates", body, role=role).status == 403
        assert account.call(messages_api, "DELETE", path, role=role).status == 403
    assert account.call(messages_api, "DELETE", path).status == 204
    assert account.call(messages_api, "GET", path).status == 404
