"""The console's audit trail page against the local stack: the console's own actions, verification, paging, roles."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import ConsoleBrowser, Page, signed_up
from tests.e2e.test_console_account import api, member

pytestmark = pytest.mark.e2e

EVENT_ID = re.compile(r'<span class="mono hint">(evt_[a-z0-9]+)</span>')


def listed(page: Page) -> list[str]:
    """The event ids the page lists, top to bottom."""
    return EVENT_ID.findall(page.html)


def trail(stack: LocalStack, browser: ConsoleBrowser) -> list[dict[str, str]]:
    """The whole trail through the API, newest first."""
    events: list[dict[str, str]] = []
    cursor = ""
    while True:
        answer = api(stack, browser, "GET", "/v1/audit-events?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, answer.text
        events += answer.json()["data"]
        cursor = answer.json()["next_cursor"] or ""
        if not cursor:
            return events


def test_the_trail_lists_the_consoles_own_actions_newest_first_and_the_chain_is_valid(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    created = owner.submit("/console/webhooks", "/console/webhooks", url="http://127.0.0.1:9/audited")
    assert created.status == 200
    page = owner.get("/console/audit")
    assert page.status == 200
    text = page.text()
    assert '<section class="verification valid"' in page.html
    events = trail(stack, owner)
    verification = api(stack, owner, "GET", "/v1/audit-events/verification").json()
    assert verification["valid"] is True
    assert f"✓ The chain is intact {verification['checked']} events checked" in text
    assert listed(page) == [e["id"] for e in events][:25]
    types = [e["type"] for e in events]
    assert types[0] == "webhook_endpoint.created"
    assert {"session.created", "login.succeeded"} <= set(types)
    for kind in ("webhook_endpoint.created", "session.created"):
        assert f"<code>{kind}</code>" in page.html
    assert email in text  # the actor, by its member's e-mail
    assert "127.0.0.1" in text
    assert "success" in text
    assert '<a href="/console/audit"' in page.html  # in the owner's navigation


def test_older_events_page_by_cursor_without_repeating_the_verification(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    for n in range(12):
        made = api(
            stack,
            owner,
            "POST",
            "/v1/webhook-endpoints",
            {"url": f"http://127.0.0.1:9/{n}", "events": ["message.status"]},
        )
        assert made.status == 201, made.text
        assert api(stack, owner, "DELETE", f"/v1/webhook-endpoints/{made.json()['id']}").status == 204
    events = [e["id"] for e in trail(stack, owner)]
    assert len(events) > 25
    first = owner.get("/console/audit")
    assert listed(first) == events[:25]
    older = re.search(r'<nav class="pager" aria-label="Pages"><a href="([^"]+)">Older</a>', first.html)
    assert older, first.html
    second = owner.get(older.group(1).replace("&amp;", "&"))
    assert second.status == 200
    assert listed(second) == events[25:50]
    assert '<section class="verification' not in second.html  # checked once, above the newest events
    assert 'href="/console/audit">Newest events' in second.html


@pytest.mark.parametrize(("role", "sees"), [("admin", True), ("developer", False), ("viewer", False)])
def test_only_owners_and_admins_see_the_trail(stack: LocalStack, role: str, sees: bool) -> None:
    owner, _ = signed_up(stack)
    other = member(stack, owner, role)
    home = other.get("/console/account")
    assert ('href="/console/audit"' in home.html) is sees
    page = other.get("/console/audit")
    if sees:
        assert page.status == 200
        assert '<section class="verification valid"' in page.html
        assert listed(page)[0] == trail(stack, owner)[0]["id"]
    else:
        assert page.status == 403
        assert "evt_" not in page.html


def test_another_accounts_events_never_show_and_odd_requests_are_never_a_5xx(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    stranger, _ = signed_up(stack)
    theirs = {e["id"] for e in trail(stack, owner)}
    page = stranger.get("/console/audit")
    assert page.status == 200
    assert not theirs & set(listed(page))
    for query in ("cursor=not-a-cursor", "cursor=%E2%9C%89", "cursor=" + "A" * 500, "cursor=eyJzZXEiOiIxIn0"):
        answer = stranger.get(f"/console/audit?{query}")
        assert answer.status < 500, (query, answer.status)
        assert not theirs & set(listed(answer))
    assert stranger.post("/console/audit", {}).status in {403, 405}
