"""Sandbox carriers: deliveries recorded in process, up/down/slow states, and the signature of their events."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from switchboard import clock
from switchboard.carriers import sandbox
from switchboard.carriers.base import Carrier, CarrierError, CarrierTimeout, CarrierUnavailable, Outbound

MSG = Outbound(
    message_id="msg_1", account_id="acct_1", channel="sms", from_="+15550001", to="+15550002", body="hi", template=None
)


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    sandbox.reset()
    yield
    sandbox.reset()


def test_sandbox_carrier_records_the_delivery_and_returns_a_receipt() -> None:
    carrier: Carrier = sandbox.SandboxCarrier("sandbox-a")
    receipt = carrier.submit(MSG)
    assert receipt.carrier == "sandbox-a"
    assert receipt.carrier_message_id.startswith("sbx_")
    [delivery] = sandbox.deliveries()
    assert delivery.as_json() == {
        "carrier": "sandbox-a",
        "from": "+15550001",
        "to": "+15550002",
        "channel": "sms",
        "body": "hi",
        "message_id": "msg_1",
        "at": clock.rfc3339(clock.now()),
    }


def test_sandbox_deliveries_are_newest_first() -> None:
    sandbox.SandboxCarrier("sandbox-a").submit(MSG)
    sandbox.SandboxCarrier("sandbox-b").submit(MSG)
    assert [d.carrier for d in sandbox.deliveries()] == ["sandbox-b", "sandbox-a"]


def test_sandbox_carrier_down_fails_at_once_and_records_nothing() -> None:
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    with pytest.raises(CarrierUnavailable):
        sandbox.SandboxCarrier("sandbox-a").submit(MSG)
    assert sandbox.deliveries() == []
    sandbox.SandboxCarrier("sandbox-b").submit(MSG)  # the other carrier is unaffected
    assert len(sandbox.deliveries()) == 1


def test_sandbox_carrier_slow_hangs_for_the_callers_timeout_then_times_out() -> None:
    sandbox.set_state("sandbox-b", sandbox.State.SLOW)
    started = time.monotonic()
    with pytest.raises(CarrierTimeout):
        sandbox.SandboxCarrier("sandbox-b", timeout_s=0.2).submit(MSG)
    assert 0.2 <= time.monotonic() - started < 2
    assert issubclass(CarrierTimeout, CarrierError)


def test_sandbox_carrier_state_refuses_unknown_carriers() -> None:
    with pytest.raises(KeyError):
        sandbox.set_state("carrier-x", sandbox.State.DOWN)
    with pytest.raises(ValueError, match="unknown sandbox carrier"):
        sandbox.SandboxCarrier("carrier-x")


def test_sandbox_reset_brings_every_carrier_back_up() -> None:
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    sandbox.reset()
    assert sandbox.states() == {"sandbox-a": sandbox.State.UP, "sandbox-b": sandbox.State.UP}


def test_sandbox_signature_verifies_and_detects_tampering_and_staleness() -> None:
    body = b'{"from": "+15550002", "body": "STOP"}'
    now = int(clock.timestamp())
    header = sandbox.sign("key", body, now)
    assert header.startswith(f"t={now},v1=")
    assert sandbox.verify("key", header, body, now=now)
    assert not sandbox.verify("other-key", header, body, now=now)
    assert not sandbox.verify("key", header, body + b" ", now=now)
    assert not sandbox.verify("key", header, body, now=now + 301)
    assert not sandbox.verify("key", None, body, now=now)
    assert not sandbox.verify("key", "t=abc,v1=00", body, now=now)


def test_registry_builds_each_sandbox_carrier_once() -> None:
    from switchboard.carriers import registry  # noqa: PLC0415

    assert {"sandbox-a", "sandbox-b"} <= set(registry.names())
    assert registry.carrier("sandbox-a") is registry.carrier("sandbox-a")
    assert registry.carrier("sandbox-b").name == "sandbox-b"
