"""The local scheduler: jobs fall due on the platform clock, run once per due period, and on demand."""

from __future__ import annotations

from typing import Any

import pytest

from local.lambdas import Handler, Invoker
from local.scheduler import Scheduler, UnknownJob
from switchboard import catalog, clock

JOB = catalog.Function(name="fake_job", description="test-only", schedule=catalog.Schedule("tidy", 3600))
NOT_A_JOB = catalog.Function(name="fake_api", description="test-only")


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"job": "tidy", "run": len(self.events)}

    def load(self, name: str) -> Handler:
        assert name == "fake_job"
        return self.handler


def scheduler() -> tuple[Scheduler, Recorder]:
    recorder = Recorder()
    return Scheduler([JOB, NOT_A_JOB], Invoker(recorder.load)), recorder


def test_scheduler_knows_only_scheduled_functions() -> None:
    jobs, _ = scheduler()
    assert set(jobs.jobs) == {"tidy"}


def test_scheduler_job_is_due_one_period_after_start_on_the_platform_clock() -> None:
    jobs, recorder = scheduler()
    assert jobs.due(clock.timestamp()) == []
    assert jobs.tick() == []
    clock.advance(3599)
    assert jobs.tick() == []
    clock.advance(2)
    assert jobs.tick() == ["tidy"]
    assert len(recorder.events) == 1
    assert jobs.tick() == []  # rescheduled one period later


def test_scheduler_runs_a_job_once_after_a_jump_of_many_periods() -> None:
    jobs, recorder = scheduler()
    clock.advance(5 * 3600)
    assert jobs.tick() == ["tidy"]
    assert jobs.tick() == []
    assert len(recorder.events) == 1
    clock.advance(3600)
    assert jobs.tick() == ["tidy"]


def test_scheduler_sends_an_eventbridge_scheduled_event() -> None:
    jobs, recorder = scheduler()
    clock.advance(7200)
    jobs.tick()
    [event] = recorder.events
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {}
    assert event["time"] == clock.rfc3339(clock.now())
    assert event["resources"][0].startswith("arn:aws:events:eu-west-1:")


def test_scheduler_run_now_returns_the_report_and_keeps_the_schedule() -> None:
    jobs, recorder = scheduler()
    assert jobs.run_now("tidy") == {"job": "tidy", "run": 1}
    assert jobs.tick() == []
    assert len(recorder.events) == 1


def test_scheduler_run_now_refuses_an_unknown_job() -> None:
    jobs, _ = scheduler()
    with pytest.raises(UnknownJob):
        jobs.run_now("fake_api")


def test_scheduler_survives_a_failing_job() -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    jobs = Scheduler([JOB], Invoker(lambda _: broken))
    clock.advance(3600)
    assert jobs.tick() == ["tidy"]
    assert jobs.tick() == []  # not retried in a loop: the next run is a period later
