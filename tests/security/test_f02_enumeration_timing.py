"""Finding 2, user enumeration by timing (R6, R8): the request path of signup and password reset makes the same AWS
calls (service, operation, resource, in order) and the same Argon2id work whether the address is unknown, belongs
to an unverified account or to a verified one. Recorded at botocore's client layer, so every client counts; the
figures of time are bench/enumeration_timing.py's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from local import recorder
from switchboard import settings
from switchboard.crypto import passwords
from tests.integration import mailbox
from tests.integration.identity.support import PASSWORD, Answer, call, register, signup

Call = tuple[str, ...]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """Every AWS call made while the list is open (service, operation, catalog resource) and each Argon2id run."""
    made: list[Call] = []
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        resource = params.get("TableName") or params.get("QueueUrl") or params.get("SecretId") or ""
        kind = "table" if "TableName" in params else "queue" if "QueueUrl" in params else "secret"
        named = recorder.catalog_id(kind, resource) if resource else ""
        made.append((client.meta.service_model.service_name, operation, named))
        return original(client, operation, params)

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            made.append(("argon2id", name))
            return function(*args, **kwargs)

        return run

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    for name in ("hash_password", "verify", "burn_equal_time"):
        monkeypatch.setattr(passwords, name, counting(name, getattr(passwords, name)))
    yield made


def _unverified(address: str) -> None:
    assert signup(address, "an unverified passphrase").status == 202
    mailbox.drain()


SETUPS: dict[str, Callable[[str], None]] = {"unknown": lambda _: None, "unverified": _unverified, "verified": register}


def _signup(email: str) -> Answer:
    return signup(email, PASSWORD, "Same Name")


def _reset(email: str) -> Answer:
    return call("POST", "/v1/password-resets", {"email": email})


REQUESTS: dict[str, Callable[[str], Answer]] = {"signup": _signup, "reset": _reset}


@pytest.mark.parametrize("route", REQUESTS)
def test_f02_known_and_unknown_addresses_cost_the_same_calls(
    identity: dict[str, str], calls: list[Call], route: str
) -> None:
    for state, setup in SETUPS.items():
        setup(f"{state}@example.com")
    REQUESTS[route]("warm@example.com")  # the first request of a process reads the peppers; later ones do not
    mailbox.drain()
    seen: dict[str, list[Call]] = {}
    answers = set()
    for state in SETUPS:
        calls.clear()
        answer = REQUESTS[route](f"{state}@example.com")
        answers.add(repr((answer.status, answer.body)))
        seen[state] = list(calls)
    assert len(answers) == 1  # the same status and body
    assert seen["unknown"] == seen["unverified"] == seen["verified"], seen
    # What the request does at all: one SendMessage to the Mail queue; signup adds exactly one Argon2id hash.
    assert [c for c in seen["unknown"] if c[0] != "argon2id"] == [("sqs", "SendMessage", "Mail")]
    assert [c for c in seen["unknown"] if c[0] == "argon2id"] == (
        [("argon2id", "hash_password")] if route == "signup" else []
    )
    # ... and mail_worker then did the address-dependent work: a link for the known addresses only (reset), a link
    # or notice for every address (signup).
    mailbox.drain()


@pytest.mark.parametrize("state", SETUPS)
@pytest.mark.parametrize("route", REQUESTS)
def test_f02_signup_and_reset_answer_no_sooner_than_the_identity_floor(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch, route: str, state: str
) -> None:
    SETUPS[state](f"{state}@example.com")
    monkeypatch.setenv("LOGIN_FAILURE_FLOOR_MS", "120")
    settings.reload()
    started = time.perf_counter()
    assert REQUESTS[route](f"{state}@example.com").status == 202
    assert time.perf_counter() - started >= 0.120
