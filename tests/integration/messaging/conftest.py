"""Messaging tests under moto: every queue, the sandbox signing key, an account with senders, and a REST caller."""

import json
import secrets as secrets_module
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest

from local import provision
from switchboard import catalog, clock, ids, settings
from switchboard.carriers import sandbox
from switchboard.crypto import envelope, secret_store
from switchboard.dal import accounts as accounts_dal
from tests.integration.conftest import Context, rest_event
from tests.integration.webhooks.conftest import listener  # noqa: F401 - a fixture the callback_url tests use

SIGNING_KEY = "sandbox-signing-key-for-tests"


@dataclass
class Answer:
    """One HTTP answer as a client sees it."""

    status: int
    headers: dict[str, str]
    body: Any = field(default=None)


@dataclass
class Account:
    """A signed-up account with one sandbox sender number per channel."""

    account_id: str
    senders: dict[str, str]  # channel -> number
    plan: str = "free"

    def call(
        self,
        module: ModuleType,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str = "developer",
        mode: str = "live",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """A request as the gateway passes it after the authorizer allowed it (an API key of `role`)."""
        return call(module, method, path, body, account=self, role=role, mode=mode, query=query, headers=headers)


def call(
    module: ModuleType,
    method: str,
    path: str,
    body: Any = None,
    *,
    account: Account | None = None,
    role: str = "developer",
    mode: str = "live",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw: str | None = None,
) -> Answer:
    """Invoke a handler with a REST proxy event (and the authorizer context of `account`, if given)."""
    event = rest_event(method, path, raw if raw is not None else (json.dumps(body) if body is not None else None))
    event["queryStringParameters"] = query
    event["headers"].update(headers or {})
    if body is not None or raw is not None:
        event["headers"]["Content-Type"] = "application/json"
    if account is not None:
        event["requestContext"]["authorizer"] = {
            "principalId": "key_test",
            "account_id": account.account_id,
            "principal": "key_test",
            "role": role,
            "credential": "api_key",
            "session_id": "",
            "key_id": "key_test",
            "plan": account.plan,
            "mode": mode,
            "auth_at": "",
        }
    result = module.lambda_handler(event, Context())
    out = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    out.update(result.get("headers") or {})
    text = result.get("body")
    return Answer(result["statusCode"], out, json.loads(text) if text else None)


@dataclass(frozen=True)
class Queues:
    """Queue URLs by catalog id, and an SQS client."""

    urls: dict[str, str]
    sqs: Any

    def drain(self, queue_id: str) -> list[dict[str, Any]]:
        """Every message on a queue now (received, so invisible afterwards)."""
        messages: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.urls[queue_id], MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return messages
            messages += got


@pytest.fixture
def queues(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:
    """Every catalog queue (and DLQ) and the sandbox signing key."""
    sqs = boto3.client("sqs")
    urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests()}
    by_id = {spec.id: urls[provision.queue_name(spec)] for spec in catalog.QUEUES}
    for spec in catalog.QUEUES:
        monkeypatch.setenv(spec.env, by_id[spec.id])
    arn = boto3.client("secretsmanager").create_secret(
        Name="sandbox", SecretString=json.dumps({"signing_key": SIGNING_KEY})
    )["ARN"]
    monkeypatch.setenv("SANDBOX_CREDENTIALS_SECRET", arn)
    settings.reload()
    secret_store.forget()
    sandbox.reset()
    yield Queues(urls=by_id, sqs=sqs)
    sandbox.reset()
    secret_store.forget()
    settings.reload()


def make_account(
    plan: str = "free", *, numbers: Mapping[str, str] | None = None, carriers: Mapping[str, str] | None = None
) -> Account:
    """An account as signup makes one: a data key, one sender per channel (`numbers`, random by default) on
    `carriers` (channel -> carrier, sandbox-a by default)."""
    account_id = ids.new_id("acct")
    envelope.create_key(account_id)
    numbers = dict(numbers or {c: f"+1555{secrets_module.randbelow(10**7):07d}" for c in catalog.CHANNELS})
    item = accounts_dal.new_account(account_id, name="Acme", created_at=int(clock.timestamp()), plan=plan)
    owner = accounts_dal.User(
        user_id="usr_owner",
        account_id=account_id,
        email_sealed="x",
        email_index=ids.new_id("idx"),
        role="owner",
        password_phc="x",
        pepper_version="v1",
        created_at=0,
        password_changed_at=0,
    )
    senders = [
        accounts_dal.NewSender(channel=c, carrier=(carriers or {}).get(c, "sandbox-a"), number=n)
        for c, n in numbers.items()
    ]
    accounts_dal.create_account(item, owner, senders)
    return Account(account_id=account_id, senders=numbers, plan=plan)


@pytest.fixture
def account(queues: Queues) -> Account:
    return make_account()


@pytest.fixture
def other_account(queues: Queues) -> Account:
    return make_account()


def opted_in(account: Account, module: ModuleType, phone: str, channels: tuple[str, ...] = ("sms",)) -> str:
    """A recipient with an opt-in on `channels`; returns its id."""
    created = account.call(module, "POST", "/v1/recipients", {"phone": phone, "name": "Ada"})
    assert created.status == 201, created.body
    recipient_id: str = created.body["id"]
    for channel in channels:
        answer = account.call(
            module,
            "POST",
            f"/v1/recipients/{recipient_id}/consents",
            {"channel": channel, "status": "opted_in", "source": "web_form"},
        )
        assert answer.status == 201, answer.body
    return recipient_id


Caller = Callable[..., Answer]


def add_template(account: Account, name: str, language: str, body: str) -> dict[str, Any]:
    """Register an (approved: the sandbox approves at once) template in the account; its answer's body."""
    from functions.messages_api import handler as messages_api  # noqa: PLC0415 - the handler under test

    answer = account.call(messages_api, "POST", "/v1/templates", {"name": name, "language": language, "body": body})
    assert answer.status == 201, answer.body
    created: dict[str, Any] = answer.body
    return created
