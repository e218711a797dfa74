"""The local stack can run a deployed stage's rules (`python -m local --stage dev`): no sandbox carriers, live keys;
an unknown stage does not start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ROOT, LocalStack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("local-dev-stage"), args=("--stage", "dev")) as running:
        yield running


def test_dev_stage_has_no_sandbox_carriers_and_issues_live_keys(dev_stack: LocalStack) -> None:
    refused = dev_stack.request("POST", "/v1/carriers/sandbox-a/events", {"id": "evt"})
    assert (refused.status, refused.json()["code"]) == (404, "not_found")
    # The real adapters exist: an unsigned Twilio event is refused by its signature check, not as unknown.
    unsigned = dev_stack.request(
        "POST",
        "/v1/carriers/twilio/events",
        raw=b"MessageSid=SM1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status == 401, unsigned.body
    signup = {"email": "dev@example.com", "password": "lantern quasar velvet plumbing", "account_name": "Dev"}
    assert dev_stack.request("POST", "/v1/signup", signup).status == 202


@pytest.mark.parametrize("stage", ["staging", "Local"])
def test_an_unknown_stage_does_not_start(stage: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "--stage", stage],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "'dev', 'local', 'prod'" in result.stderr
