"""Runs each scheduled catalog function at its rate on the platform clock, with an EventBridge scheduled event."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from local.lambdas import Invoker
from local.provision import ACCOUNT_ID, PREFIX, REGION
from switchboard import catalog, clock

log = logging.getLogger("local")

TICK_S = 0.5


class UnknownJob(KeyError):
    """No scheduled function has this job name."""


def scheduled_event(schedule: catalog.Schedule) -> dict[str, Any]:
    """The event an EventBridge schedule delivers to its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": clock.rfc3339(clock.now()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{PREFIX}-{schedule.name}"],
        "detail": {},
    }


class Scheduler:
    """Knows when each job is next due (platform time) and runs it then, or at once on request."""

    def __init__(self, functions: Iterable[catalog.Function], invoker: Invoker) -> None:
        self.jobs = {fn.schedule.name: fn for fn in functions if fn.schedule is not None}
        self.invoker = invoker
        self._lock = threading.Lock()
        self._running = {name: threading.Lock() for name in self.jobs}
        # Like a new EventBridge rate rule: the first run comes one period after the schedule exists.
        start = clock.timestamp()
        self.next_due = {name: start + self._every(name) for name in self.jobs}

    def _every(self, name: str) -> int:
        schedule = self.jobs[name].schedule
        assert schedule is not None  # noqa: S101 - only scheduled functions are jobs
        return schedule.every_s

    def due(self, now: float) -> list[str]:
        """The jobs due at platform time `now`."""
        with self._lock:
            return sorted(name for name, at in self.next_due.items() if at <= now)

    def run_now(self, name: str) -> Any:
        """Run a job at once and return its handler's result (UnknownJob when there is no such job)."""
        function = self.jobs.get(name)
        if function is None or function.schedule is None:
            raise UnknownJob(name)
        with self._running[name]:  # one run of a job at a time, so a manual run never overlaps the scheduled one
            return self.invoker.run(function, scheduled_event(function.schedule))

    def tick(self) -> list[str]:
        """Run every due job once; a clock jump of many periods runs it once, as EventBridge never catches up."""
        now = clock.timestamp()
        ran = self.due(now)
        for name in ran:
            with self._lock:
                self.next_due[name] = now + self._every(name)
            try:
                self.run_now(name)
                log.info("job %s ran on schedule", name)
            except Exception as error:
                log.exception("job failed", extra={"job": name, "error_type": type(error).__name__})
        return ran

    def run(self, stop: threading.Event, tick_s: float = TICK_S) -> None:
        """Tick until `stop` is set."""
        while not stop.wait(tick_s):
            self.tick()
