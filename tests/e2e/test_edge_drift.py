"""The R47 drift job on the local stack: run on demand, against the gateway's own fake of Cloudflare's /ips."""

from __future__ import annotations

import json

from switchboard.logic import edge_drift
from tests.e2e.conftest import LocalStack


def test_drift_job_runs_locally_against_the_loopback_fake_and_finds_no_drift(stack: LocalStack) -> None:
    answer = stack.request("POST", "/_local/jobs/edge_drift")
    assert answer.status == 200
    assert answer.json() == {"checked": True, "drift": False, "missing": [], "extra": [], "error": ""}
    # It read the gateway's fake (never the internet), which serves the deployed list in Cloudflare's format.
    assert "/_local/cloudflare/ips" in stack.log()
    published = stack.request("GET", "/_local/cloudflare/ips")
    assert published.status == 200
    assert edge_drift.parse_published(published.body) == edge_drift.deployed_ranges()
    assert json.loads(published.body)["success"] is True
