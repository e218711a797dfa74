"""The webhook retry schedule: 30 s doubling to 1 h, jittered, spanning at least 24 h before the DLQ."""

import pytest

from switchboard import catalog, settings
from switchboard.logic import webhooks
from switchboard.models.webhooks import MAX_ATTEMPTS

DAY_S = 86400


def test_schedule_spans_more_than_a_day_even_with_the_shortest_jitter() -> None:
    delays = webhooks.schedule(30)
    assert len(delays) == MAX_ATTEMPTS - 1
    assert delays[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(delays[7:]) == {3600}
    assert sum(delays) == 104_610  # about 29.1 h between the first and the last attempt
    assert sum(delays) * (1 - webhooks.JITTER) >= DAY_S


def test_backoff_stays_within_its_jitter_and_the_sqs_limit() -> None:
    for attempt in range(1, MAX_ATTEMPTS):
        nominal = webhooks.nominal_backoff_s(attempt, 30)
        for _ in range(20):
            delay = webhooks.backoff_s(attempt, 30)
            assert nominal * 0.9 - 1 <= delay <= nominal * 1.1 + 1
            assert delay <= 12 * 3600  # ChangeMessageVisibility's maximum
    spread = {webhooks.backoff_s(10, 30) for _ in range(50)}
    assert len(spread) > 1


def test_backoff_reads_its_base_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_S", "1")
    settings.reload()
    try:
        assert webhooks.backoff_s(1) <= 2
        assert webhooks.nominal_backoff_s(3, settings.get().webhook_retry_base_s) == 4
    finally:
        monkeypatch.delenv("WEBHOOK_RETRY_BASE_S")
        settings.reload()
    assert settings.get().webhook_retry_base_s == 30


def test_callbacks_queue_allows_exactly_max_attempts_receives() -> None:
    queue = catalog.queue("Callbacks")
    assert queue.max_receive_count == MAX_ATTEMPTS
    assert queue.retention_days * DAY_S > sum(webhooks.schedule(30)) * (1 + webhooks.JITTER)
    worker = catalog.function("callback_worker")
    assert worker.consumes == "Callbacks"
    assert worker.timeout_s <= queue.visibility_timeout_s
    assert worker.batch_size * 5 < worker.timeout_s
