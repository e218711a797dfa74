"""The platform clock and prefixed, sortable ids."""

import re
import time

import pytest

from switchboard import clock, ids


def test_clock_advance_moves_now_forward() -> None:
    before = clock.now()
    after = clock.advance(3600)
    assert 3599 <= (after - before).total_seconds() <= 3601
    assert clock.now() >= after


def test_clock_refuses_to_move_backwards() -> None:
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_clock_rfc3339_is_utc_with_z() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", clock.rfc3339(clock.now()))


def test_ids_are_prefixed_and_unique() -> None:
    made = {ids.new_id("msg") for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"msg_[0-9a-hjkmnp-tv-z]{26}", i) for i in made)


def test_ids_sort_by_creation_time() -> None:
    first = ids.new_id("evt")
    time.sleep(0.002)
    second = ids.new_id("evt")
    clock.advance(1)
    third = ids.new_id("evt")
    assert first < second < third
