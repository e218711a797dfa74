"""The local stack can run a deployed stage's rules (`python -m local --stage dev`): no sandbox carriers, live keys;
an unknown stage does not start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from switchboard.logic.throttle import MAX_FAILURES
from tests.e2e.conftest import ROOT, LocalStack, running_stack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, signed_up, unique_email

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


def test_console_sign_in_is_throttled_by_each_browsers_address_not_the_consoles(dev_stack: LocalStack) -> None:
    # Deployed, every console request reaches the API from the console's own address; the console vouches for the
    # browser's (CF-Connecting-IP here, as Cloudflare sends it), so one attacker cannot lock everyone else out.
    jane_ip, attacker_ip = "203.0.113.10", "198.51.100.66"
    jane, email = signed_up(dev_stack, browser=ConsoleBrowser(dev_stack, headers={"CF-Connecting-IP": jane_ip}))
    jane.post("/console/logout", jane.get("/console/profile").form("/console/logout"))
    assert "__Host-sb_session" not in jane.cookies

    attacker = ConsoleBrowser(dev_stack, headers={"CF-Connecting-IP": attacker_ip})
    pages = [
        attacker.submit("/console/login", "/console/login", email=unique_email("victim"), password="wrong " + PASSWORD)
        for _ in range(MAX_FAILURES + 1)
    ]
    assert pages[0].status == 401 and "wrong" in pages[0].text()
    assert pages[-1].status == 429, pages[-1].text()[:500]  # the attacker's own address is locked...
    signin = {"email": email, "password": PASSWORD}
    direct = dev_stack.request("POST", "/v1/sessions", signin, headers={"CF-Connecting-IP": attacker_ip})
    assert direct.status == 429, direct.body
    forged = dev_stack.request(
        "POST",
        "/v1/sessions",
        signin,
        headers={"CF-Connecting-IP": attacker_ip, "Switchboard-Console-Client": f"client_ip_v1 1 {jane_ip} AAAA"},
    )
    assert forged.status == 429, forged.body  # ...and a vouching header of its own making changes nothing

    page = jane.submit("/console/login", "/console/login", email=email, password=PASSWORD)  # ...jane's is not
    assert "__Host-sb_session" in jane.cookies, page.text()[:500]
    sessions = jane.get("/console/sessions").text()
    assert jane_ip in sessions and "127.0.0.1" not in sessions and attacker_ip not in sessions


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
