"""Finding 17: a rotated key's successor is a fresh key with its predecessor's lifetime, never its grace expiry.

Whatever the chain of rotations (of the original key, of a key already in its grace period, of a successor), every
successor expires when the original lifetime ends, and a grace period only ever shortens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from functions.authorizer import handler as authorizer_handler
from switchboard import clock
from tests.integration.conftest import Context
from tests.integration.frozen import FrozenClock
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import authorizer_event
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

DAY = 86400


def _authorized(key: str) -> bool:
    try:
        authorizer_handler.lambda_handler(authorizer_event("GET", "/v1/messages", key), Context())
    except Exception as error:
        assert str(error) == "Unauthorized"
        return False
    return True


def _epoch(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def _expiries(token: str) -> dict[str, int]:
    listed = call("GET", "/v1/api-keys", token=token).body["data"]
    return {k["id"]: _epoch(k["expires_at"]) for k in listed}


def _rotate(token: str, key_id: str, grace_s: int) -> dict[str, Any]:
    answer = call("POST", f"/v1/api-keys/{key_id}/rotate", {"grace_s": grace_s}, token=token)
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


# Each step: which key to rotate ("original", "first successor", ...) and the grace asked for.
CHAINS = {
    "rotate twice while the first grace runs (longer grace asked)": [(0, 600), (0, 3600)],
    "rotate twice while the first grace runs (shorter grace asked)": [(0, 3600), (0, 60)],
    "rotate the successor, then the original again": [(0, 600), (1, 600), (0, 1200)],
    "rotate with no grace, then the successor": [(0, 0), (1, 300)],
}


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("lifetime_days", [None, 2])
def test_rotation_chains_keep_the_original_lifetime_and_never_extend_a_grace(
    identity: dict[str, str],  # noqa: F811
    frozen: FrozenClock,
    chain: str,
    lifetime_days: int | None,
) -> None:
    register("jane@example.com", password=PASSWORD)
    token = login("jane@example.com", PASSWORD)
    body: dict[str, Any] = {"name": "ci", "role": "developer"}
    if lifetime_days is not None:
        body["expires_at"] = clock.rfc3339_at(int(clock.timestamp()) + lifetime_days * DAY)
    created = call("POST", "/v1/api-keys", body, token=token).body
    lifetime_ends = _epoch(created["expires_at"])
    keys = [created]  # in creation order: index 0 is the original
    grace_ends: dict[str, int] = {}
    for which, grace_s in CHAINS[chain]:
        frozen.advance(30)
        old = keys[which]
        new = _rotate(token, old["id"], grace_s)
        keys.append(new)
        # The successor is fresh: its lifetime is the original one, whatever grace its predecessor is in.
        assert _epoch(new["expires_at"]) == lifetime_ends, (chain, which)
        asked = int(clock.timestamp()) + grace_s
        grace_ends[old["id"]] = min(grace_ends.get(old["id"], lifetime_ends), asked)
        expiries = _expiries(token)
        if grace_s > 0:
            assert expiries[old["id"]] == grace_ends[old["id"]], "a grace period was extended or not applied"
        for key_id, ends in grace_ends.items():
            if key_id in expiries:
                assert expiries[key_id] == ends
    latest_grace = max(grace_ends.values())
    frozen.advance(latest_grace - int(clock.timestamp()) + 1)
    for key in keys:
        assert _authorized(key["key"]) is (key["id"] not in grace_ends), key["id"]
    # A successor lives until the original lifetime ends, and not a second longer.
    frozen.advance(lifetime_ends - int(clock.timestamp()) - 1)
    assert any(_authorized(k["key"]) for k in keys)
    frozen.advance(2)
    assert not any(_authorized(k["key"]) for k in keys)
