"""Failover over in-memory fakes of the breaker, ledger and pacer: order, rejections, timeouts, exactly-once."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.carriers import routing
from switchboard.carriers.base import CarrierRejected, CarrierTimeout, CarrierUnavailable, Outbound, Receipt

MSG = Outbound(
    message_id="msg_1", account_id="acct_1", channel="sms", from_="+15550000001", to="+14155552671", body="Hi"
)


@dataclass
class FakeCarrier:
    name: str
    fails_with: Exception | None = None
    submitted: list[str] = field(default_factory=list)

    def submit(self, msg: Outbound) -> Receipt:
        self.submitted.append(msg.message_id)
        if self.fails_with is not None:
            raise self.fails_with
        return Receipt(carrier=self.name, carrier_message_id=f"{self.name}-id")


@dataclass
class FakeBreaker:
    open_for: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    successes: list[str] = field(default_factory=list)

    def allow(self, carrier: str) -> bool:
        return carrier not in self.open_for

    def success(self, carrier: str) -> None:
        self.successes.append(carrier)

    def failure(self, carrier: str) -> None:
        self.failures.append(carrier)


@dataclass
class FakeLedger:
    records: dict[str, tuple[str, str]] = field(default_factory=dict)

    def reserve(self, carrier: str) -> tuple[str, str] | None:
        if carrier in self.records:
            return self.records[carrier]
        self.records[carrier] = ("reserved", "")
        return None

    def accepted(self, carrier: str, receipt: Receipt) -> None:
        self.records[carrier] = ("accepted", receipt.carrier_message_id)

    def ended(self, carrier: str, outcome: str) -> None:
        self.records[carrier] = (outcome, "")


class NoPacing:
    def wait(self, carrier: str) -> None:
        return None


def run(
    carriers: list[FakeCarrier], breaker: FakeBreaker | None = None, ledger: FakeLedger | None = None
) -> routing.Result:
    by_name = {c.name: c for c in carriers}
    return routing.failover(
        MSG,
        [c.name for c in carriers],
        adapter=by_name.__getitem__,
        breaker=breaker or FakeBreaker(),
        ledger=ledger or FakeLedger(),
        pacer=NoPacing(),
    )


def test_failover_moves_to_the_next_carrier_on_timeout_or_outage() -> None:
    a = FakeCarrier("a", CarrierTimeout("hung"))
    b = FakeCarrier("b", CarrierUnavailable("503"))
    c = FakeCarrier("c")
    breaker = FakeBreaker()
    result = run([a, b, c], breaker)
    assert result.receipt == Receipt("c", "c-id")
    assert [(t.carrier, t.outcome) for t in result.attempts] == [("a", "timeout"), ("b", "failed"), ("c", "accepted")]
    assert breaker.failures == ["a", "b"]
    assert breaker.successes == ["c"]


def test_failover_stops_at_a_rejection_and_does_not_blame_the_carrier() -> None:
    a = FakeCarrier("a", CarrierRejected("invalid number", code="21211"))
    b = FakeCarrier("b")
    breaker = FakeBreaker()
    result = run([a, b], breaker)
    assert result.receipt is None
    assert result.rejected is not None
    assert result.rejected.code == "21211"
    assert b.submitted == []  # every carrier would refuse it; a second try could be a duplicate
    assert breaker.failures == []


def test_failover_skips_an_open_circuit() -> None:
    a, b = FakeCarrier("a"), FakeCarrier("b")
    result = run([a, b], FakeBreaker(open_for={"a"}))
    assert a.submitted == []
    assert [(t.carrier, t.outcome) for t in result.attempts] == [("a", "skipped"), ("b", "accepted")]


def test_failover_never_resubmits_to_a_carrier_that_accepted_before() -> None:
    a, b = FakeCarrier("a"), FakeCarrier("b")
    ledger = FakeLedger(records={"a": ("accepted", "a-earlier")})
    result = run([a, b], ledger=ledger)
    assert result.receipt == Receipt("a", "a-earlier")
    assert a.submitted == [] and b.submitted == []
