"""Concurrent requests through the local gateway never see each other's state (Powertools keeps the current event on
its router class and the logger's keys on one formatter: both are per invocation here, and a function runs one
invocation at a time, as a Lambda execution environment does)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

PER_THREAD = 250  # 2 scenarios x 2 threads x 250 = 1,000 answers


@dataclass(frozen=True)
class Sent:
    """One request and what its problem answer must say about it."""

    method: str
    path: str
    body: bytes
    status: int


def _unknown_carrier(prefix: str, method: str) -> Callable[[int], Sent]:
    # carrier_events answers 404 for an unknown carrier at once: the problem's `instance` is this request's path.
    return lambda n: Sent(method, f"/v1/carriers/{prefix}-{n}/events", b"{}" if method == "POST" else b"", 404)


def _unknown_verification(n: int) -> Sent:
    # identity_api looks the token up (a moto round trip) before it refuses it: a long window in which another
    # request's event could replace this one's.
    return Sent("POST", "/v1/email-verifications", json.dumps({"token": f"unknown-token-{n:040d}"}).encode(), 400)


def _unknown_reset(n: int) -> Sent:
    # identity_api refuses a reset token it never issued (400): a body the gateway's request model lets through, so
    # the function answers (a body that is not JSON is the gateway's own 400, which has no `instance`).
    body = {"token": f"unknown-reset-{n:040d}", "new_password": "lantern quasar velvet plumbing"}
    return Sent("POST", "/v1/password-resets/confirm", json.dumps(body).encode(), 400)


def _hammer(stack: LocalStack, make: Callable[[int], Sent], start: threading.Barrier, wrong: list[str]) -> int:
    start.wait()
    answered = 0
    for n in range(PER_THREAD):
        sent = make(n)
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        try:
            connection.request(sent.method, sent.path, sent.body or None, {"Content-Type": "application/json"})
            response = connection.getresponse()
            problem = json.loads(response.read())
            request_id = response.getheader("X-Request-Id")
        finally:
            connection.close()
        answered += 1
        expected = (sent.status, sent.path, request_id)
        if (response.status, problem.get("instance"), problem.get("request_id")) != expected:
            wrong.append(f"{sent.method} {sent.path} X-Request-Id {request_id}: {response.status} {problem}")
    return answered


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_unknown_verification, _unknown_carrier("isolated", "GET")),  # two functions at once
        (_unknown_verification, _unknown_reset),  # one function, two routes
    ],
    ids=["two-functions", "one-function-two-routes"],
)
def test_concurrent_answers_carry_their_own_instance_and_request_id(
    stack: LocalStack, first: Callable[[int], Sent], second: Callable[[int], Sent]
) -> None:
    wrong: list[str] = []
    counts: list[int] = []
    start = threading.Barrier(2)
    threads = [
        threading.Thread(target=lambda make=make: counts.append(_hammer(stack, make, start, wrong)))
        for make in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert counts == [PER_THREAD, PER_THREAD]
    assert wrong == [], f"{len(wrong)} of {2 * PER_THREAD} answers carried another request's state: {wrong[:3]}"
