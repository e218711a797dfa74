"""What the console's people pages' tests share: the session behind a browser, the platform clock, invited members."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.e2e.conftest import Answer, LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, Page, token_for, unique_email

SESSION_COOKIE = "__Host-sb_session"


def token_of(browser: ConsoleBrowser) -> str:
    """The API session token the browser's cookie carries (the cookie is `token~expires~idle`)."""
    return browser.cookies[SESSION_COOKIE].strip('"').split("~")[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api(stack: LocalStack, browser_or_token: ConsoleBrowser | str, method: str, path: str, body: Any = None) -> Answer:
    """The API as the browser's signed-in person (or with a token)."""
    token = browser_or_token if isinstance(browser_or_token, str) else token_of(browser_or_token)
    return stack.request(method, path, body, headers=bearer(token))


def now(stack: LocalStack) -> int:
    """The platform clock (the stack's, which tests may move) in epoch seconds."""
    answer = stack.request("POST", "/_local/clock", {"advance_s": 0}).json()["now"]
    return int(datetime.fromisoformat(answer).timestamp())


def advance(stack: LocalStack, seconds: int) -> None:
    assert stack.request("POST", "/_local/clock", {"advance_s": seconds}).status == 200


def member(stack: LocalStack, owner: ConsoleBrowser, role: str) -> tuple[ConsoleBrowser, str]:
    """A member with `role` invited through the API, joined through the console's invitation page, signed in."""
    email = unique_email(role)
    invited = api(stack, owner, "POST", "/v1/members", {"email": email, "role": role})
    assert invited.status == 201, invited.body
    browser = ConsoleBrowser(stack)
    joined = browser.submit(
        f"/console/accept-invitation?token={token_for(stack, email)}", "/console/accept-invitation", password=PASSWORD
    )
    assert "/console/login" in joined.url, joined.text()[:500]
    page = browser.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    assert SESSION_COOKIE in browser.cookies, page.text()[:500]
    return browser, email


def csrf_of(page: Page) -> str:
    """The CSRF token of the first form on a page (every form of a session's pages carries the same one)."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.html)
    assert found, page.html[:1000]
    return found.group(1)


def actions(page: Page) -> list[str]:
    """Where each form on the page posts."""
    return [action for action, _ in page.forms()]
