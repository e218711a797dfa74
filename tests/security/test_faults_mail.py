"""Faults at the AWS client layer on the e-mail path: SES failing never fails a request (mail_worker retries, the
mail lands once SES recovers, or the record goes to the DLQ after max_receive_count receives, never sent twice);
the Mail queue refusing a message is a 503 problem+json with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from switchboard import catalog
from tests.integration import mailbox
from tests.integration.identity import gateway
from tests.integration.identity.support import PASSWORD, Answer, call, register, signup


class Outage:
    """Makes one AWS operation fail at botocore's client layer (the request never reaches moto) while `on`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, code: str) -> None:
        self.on = True
        self.failed = 0
        original = BaseClient._make_api_call

        def call_through(client: BaseClient, name: str, params: dict[str, Any]) -> Any:
            if self.on and name == operation and client.meta.service_model.service_name == service:
                self.failed += 1
                raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, name)
            return original(client, name, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", call_through)


@pytest.fixture
def ses_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    yield Outage(monkeypatch, "ses", "SendEmail", "Throttling")


@pytest.fixture
def sqs_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    yield Outage(monkeypatch, "sqs", "SendMessage", "ServiceUnavailable")


def _sent() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages)


def _known(address: str) -> None:
    register(address)


def _failed_logins(address: str) -> Answer:
    # Ten wrong passwords lock the address: the tenth queues the lockout notice.
    answers = [
        call("POST", "/v1/sessions", {"email": address, "password": "not the passphrase at all"}) for _ in range(10)
    ]
    return answers[-1]


# Each request that e-mails, what it answers while SES is down, and the address its mail goes to.
REQUESTS: dict[str, tuple[Callable[[str], None], Callable[[str], Answer], int]] = {
    "signup_new": (lambda _: None, lambda a: signup(a, PASSWORD), 202),
    "signup_existing": (_known, lambda a: signup(a, PASSWORD), 202),
    "reset": (_known, lambda a: call("POST", "/v1/password-resets", {"email": a}), 202),
    "login_lockout_notice": (_known, _failed_logins, 401),
}


@pytest.mark.parametrize("request_kind", REQUESTS)
@pytest.mark.parametrize("recovers", [True, False], ids=["recovers", "stays_down"])
def test_ses_failure_never_fails_the_request_and_the_mail_lands_once_or_goes_to_the_dlq(
    identity: dict[str, str], ses_down: Outage, request_kind: str, recovers: bool
) -> None:
    address = "jane@example.com"
    setup, request, status = REQUESTS[request_kind]
    ses_down.on = False
    setup(address)
    mailbox.drain()
    before = len(_sent())
    ses_down.on = True
    answer = request(address)
    assert answer.status == status, answer.body
    mailbox.drain(rounds=2)  # the worker tries, SES fails, the record stays queued
    assert ses_down.failed >= 1
    assert len(_sent()) == before
    if recovers:
        ses_down.on = False
        mailbox.drain()
        delivered = [m for m in _sent()[before:] if address in m.destinations["ToAddresses"]]
        assert len(delivered) == 1  # exactly once, however many attempts failed
        assert mailbox.dead_letters() == []
    else:
        mailbox.drain()  # receives until the redrive policy moves the record
        assert len(_sent()) == before
        [dead] = mailbox.dead_letters()
        assert ses_down.failed == catalog.queue("Mail").max_receive_count
        assert dead["Body"]


QUEUED: dict[str, Callable[[str], Answer]] = {
    "signup": lambda a: signup(a, PASSWORD),
    "reset": lambda a: call("POST", "/v1/password-resets", {"email": a}),
    "invitation": lambda a: gateway.call("POST", "/v1/members", {"email": a, "role": "viewer"}, token=_OWNER[0]),
}
_OWNER: list[str] = []


@pytest.mark.parametrize("request_kind", QUEUED)
def test_a_refused_send_to_the_mail_queue_is_a_503_with_retry_after(
    identity: dict[str, str], sqs_down: Outage, request_kind: str
) -> None:
    sqs_down.on = request_kind != "invitation"  # the inviter registers first, with the queue up
    if request_kind == "invitation":
        gateway.register("boss@example.com")
        _OWNER[:] = [gateway.login("boss@example.com")]
        sqs_down.on = True
    answer = QUEUED[request_kind]("new@example.com")
    assert answer.status == 503, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.body["code"] == "service_unavailable"
    assert answer.body["status"] == 503
    sqs_down.on = False
    assert QUEUED[request_kind]("new@example.com").status in (201, 202)  # the retry goes through
