"""The status lifecycle never moves backwards and final statuses stay final."""

import pytest

from switchboard.models.message_status import FINAL, RANK, advances


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        ("queued", "sending", True),
        ("sending", "sent", True),
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("delivered", "sent", False),
        ("read", "delivered", False),
        ("failed", "delivered", False),
        ("sent", "sent", False),
        ("queued", "expired", True),
        ("expired", "sent", False),
        ("undelivered", "read", True),
    ],
)
def test_lifecycle_advances_only_forward(current: str, new: str, expected: bool) -> None:
    assert advances(current, new) is expected


def test_lifecycle_every_final_status_is_ranked() -> None:
    assert set(FINAL) <= set(RANK)
