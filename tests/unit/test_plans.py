"""Plans carry API.md's rate limits; anything unknown gets the free plan's."""

import pytest

from switchboard.models import plans


@pytest.mark.parametrize(
    ("name", "per_key", "per_account"),
    [("free", (10, 20), (20, 40)), ("pro", (50, 100), (100, 200)), ("enterprise", (200, 400), (500, 1000))],
)
def test_plans_match_the_api_contract(name: str, per_key: tuple[int, int], per_account: tuple[int, int]) -> None:
    plan = plans.get(name)
    assert plan.name == name
    assert (plan.per_key.rate_per_s, plan.per_key.burst) == per_key
    assert (plan.per_account.rate_per_s, plan.per_account.burst) == per_account


@pytest.mark.parametrize("name", ["", "platinum", "FREE"])
def test_plans_unknown_name_gets_the_free_limits(name: str) -> None:
    assert plans.get(name) == plans.PLANS["free"]
