"""The two sides of a repository contract test: the in-memory fake, or the dal module on moto's account."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

_Repo = TypeVar("_Repo")
SIDES = ["in_memory", "dynamodb"]  # the `params` of a contract test's `repo` fixture


def side(request: pytest.FixtureRequest, fake: Callable[[], _Repo], real: Callable[[], _Repo]) -> _Repo:
    """The fake for `in_memory`; for `dynamodb`, moto's account is set up first, then `real()` arranges the rest."""
    if request.param == "in_memory":
        return fake()
    request.getfixturevalue("aws")
    return real()
