"""One pagination rule: every list route (the catalog's GET routes whose document declares `limit`) answers the
same bounds, the same default and the same refusal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from switchboard import catalog
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - a fixture
from tests.integration.identity.gateway import call, login, register

DOCUMENT = json.loads((Path(__file__).parents[3] / "docs" / "openapi.json").read_text())
OWNER = "owner@pages.example"


def _limit(path: str) -> dict[str, object] | None:
    operation = DOCUMENT["paths"].get(path, {}).get("get", {})
    return next((p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] == "limit"), None)


LISTS = sorted(route.path for route, _ in catalog.routes() if route.method == "GET" and _limit(route.path))
# Not a whole number of ASCII digits, or out of 1..100: refused alike on every list.
OUT_OF_RULE = ("0", "-1", "101", "1000", "abc", "1.5", "1.0", "1e2", "", " 1", "1 ", "+1", "1_0", "0x10", "9" * 40)
NON_ASCII = ("\uff11", "\u0663", "\u00b2")  # full-width 1, Arabic-Indic 3, superscript 2


@pytest.fixture
def owner(identity: dict[str, str], frozen: FrozenClock) -> str:
    register(OWNER)
    return login(OWNER)


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "x_none", path)


def test_every_list_declares_the_one_limit_parameter() -> None:
    assert len(LISTS) >= 11, LISTS
    declared = {json.dumps(_limit(path), sort_keys=True) for path in LISTS}
    assert len(declared) == 1, declared
    schema = json.loads(declared.pop())["schema"]
    assert (schema["minimum"], schema["maximum"], schema["default"]) == (1, 100, 25)


@pytest.mark.parametrize("path", LISTS)
def test_every_list_refuses_a_bad_limit_the_same_way(owner: str, frozen: FrozenClock, path: str) -> None:
    target = _concrete(path)
    for bad in OUT_OF_RULE:
        frozen.advance(1)  # the rate limit is not under test
        refused = call("GET", target, token=owner, query={"limit": bad})
        assert (refused.status, refused.body["code"]) == (422, "validation_failed"), (bad, refused.body)
        assert [e["pointer"] for e in refused.body["errors"]] == ["/limit"], (bad, refused.body)
        assert refused.headers["Content-Type"] == "application/problem+json"
    for bad in NON_ASCII:
        frozen.advance(1)
        refused = call("GET", target, token=owner, query={"limit": bad})
        assert (refused.status, refused.body["code"]) == (400, "invalid_query"), (bad, refused.body)


@pytest.mark.parametrize("path", LISTS)
def test_every_list_takes_1_to_100_and_defaults_to_25(owner: str, frozen: FrozenClock, path: str) -> None:
    target = _concrete(path)
    for good in (None, "1", "01", "25", "100"):
        frozen.advance(1)
        answer = call("GET", target, token=owner, query={"limit": good} if good is not None else None)
        if "{" in path:
            # No such parent: the limit passed, the route ran and found nothing to list.
            assert answer.status == 404, (good, answer.body)
        else:
            assert answer.status == 200, (good, answer.body)
            assert len(answer.body["data"]) <= int(good or 25)
