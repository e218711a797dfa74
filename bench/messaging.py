"""Messaging benchmarks (printed, not asserted): failover time, and a worker batch of 10 at 100 ms carrier latency."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from switchboard.carriers import routing, sandbox
from switchboard.carriers.base import Carrier, Outbound, Receipt

RUNS = 20


@dataclass
class Ledger:
    """In-memory attempt records (the DynamoDB one costs one round-trip per call)."""

    records: dict[str, str] = field(default_factory=dict)

    def reserve(self, carrier: str) -> tuple[str, str] | None:
        if carrier in self.records:
            return self.records[carrier], ""
        self.records[carrier] = "pending"
        return None

    def accepted(self, carrier: str, receipt: Receipt) -> None:
        self.records[carrier] = "accepted"

    def ended(self, carrier: str, outcome: str) -> None:
        self.records[carrier] = outcome


class Open:
    """A breaker that never trips (each run measures a real call to the failing carrier)."""

    def allow(self, carrier: str) -> bool:
        return True

    def success(self, carrier: str) -> None:
        return None

    def failure(self, carrier: str) -> None:
        return None


class NoPace:
    def wait(self, carrier: str) -> None:
        return None


class Latent:
    """A carrier that answers after `latency_s`."""

    def __init__(self, latency_s: float) -> None:
        self.name = "latent"
        self.latency_s = latency_s

    def submit(self, msg: Outbound) -> Receipt:
        time.sleep(self.latency_s)
        return Receipt(carrier=self.name, carrier_message_id=f"lat_{msg.message_id}")


def message(n: int) -> Outbound:
    return Outbound(
        message_id=f"msg_{n}",
        account_id="acct_bench",
        channel="sms",
        from_="+15550000000",
        to="+14155550100",
        body="bench",
    )


def failover_times(state: sandbox.State) -> list[float]:
    sandbox.reset()
    sandbox.set_state("sandbox-a", state)
    adapters: dict[str, Carrier] = {n: sandbox.SandboxCarrier(n) for n in sandbox.NAMES}
    times = []
    for n in range(RUNS):
        started = time.monotonic()
        result = routing.failover(
            message(n), sandbox.NAMES, adapter=adapters.__getitem__, breaker=Open(), ledger=Ledger(), pacer=NoPace()
        )
        if result.receipt is None or result.receipt.carrier != "sandbox-b":
            raise RuntimeError("failover did not reach sandbox-b")
        times.append(time.monotonic() - started)
    sandbox.reset()
    return times


def worker_batch(latency_s: float = 0.1, size: int = 10) -> float:
    carrier = Latent(latency_s)

    def deliver(n: int) -> Receipt | None:
        return routing.failover(
            message(n), ["latent"], adapter=lambda _: carrier, breaker=Open(), ledger=Ledger(), pacer=NoPace()
        ).receipt

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=size) as pool:  # as functions/send_worker does per batch
        receipts = list(pool.map(deliver, range(size)))
    if not all(receipts):
        raise RuntimeError("a message was not accepted")
    return time.monotonic() - started


def main() -> None:
    for state in (sandbox.State.DOWN, sandbox.State.SLOW):
        times = failover_times(state)
        print(
            f"failover, sandbox-a {state.value}: median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {RUNS}"
        )
    print(f"worker batch of 10 at 100 ms carrier latency: {worker_batch() * 1000:.0f} ms wall time")


if __name__ == "__main__":
    main()
