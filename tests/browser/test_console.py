"""The console in headless Chromium against a local stack: a new owner's first day, a viewer, CSRF, the session
cookie, and axe-core with a screenshot on every page (desktop, and phone width for the main ones)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chrome import Console
from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import PASSWORD, unique_email

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "__Host-sb_session"


def mail_token(stack: LocalStack, address: str, timeout_s: float = 20) -> str:
    """The newest single-use token e-mailed to `address` (the mail worker sends from its queue: wait for it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for mail in stack.request("GET", "/_local/outbox").json()["data"]:
            if mail["to"] == address and mail.get("token"):
                return str(mail["token"])
        time.sleep(0.1)
    raise AssertionError(f"no token e-mailed to {address} within {timeout_s}s")


def api(stack: LocalStack, token: str, method: str, path: str, body: Any = None) -> Any:
    """The public API as the person whose session token (or API key) is `token`."""
    return stack.request(method, path, body, headers={"Authorization": f"Bearer {token}"})


def sign_up(console: Console, stack: LocalStack, email: str, account_name: str = "Browser Co") -> None:
    """Sign up and confirm the address through the console's own forms (the link from the local outbox)."""
    console.forget()
    console.open("/console/signup")
    console.submit("/console/signup", account_name=account_name, email=email, password=PASSWORD)
    assert console.path.startswith("/console/login"), console.text()[:800]
    assert "Check your e-mail" in console.main_text()
    console.open(f"/console/verify-email?token={mail_token(stack, email)}")
    console.submit("/console/verify-email")
    assert "Your e-mail address is confirmed" in console.main_text(), console.main_text()[:800]


def sign_in(console: Console, email: str, password: str = PASSWORD, code: str = "") -> None:
    console.open("/console/login")
    console.submit("/console/login", email=email, password=password, code=code)
    assert console.session_cookie() is not None, console.main_text()[:800]


def test_signed_out_pages_render_and_pass_axe(console: Console, stack: LocalStack) -> None:
    """Every page a person sees before signing in, at desktop and phone width, and with its errors showing."""
    console.forget()
    for path, name, heading, shows in (
        ("/console/login", "login", "Sign in", "the sign-in form: e-mail, password, optional code"),
        ("/console/signup", "signup", "Create your account", "sign-up: company name, work e-mail, password"),
        ("/console/reset-password", "reset-request", "Reset your password", "asks for the address to send a link"),
        ("/console/reset-password?token=x", "reset-choose", "Choose a new password", "new password from the link"),
        ("/console/verify-email?token=x", "verify-email", "Confirm your e-mail address", "confirms the address"),
        (
            "/console/accept-invitation?token=x",
            "accept-invitation",
            "Join your team on Switchboard",
            "invitee's password",
        ),
    ):
        console.open(path)
        assert console.h1() == heading, console.path
        assert console.session_cookie() is None
        console.check(name, shows, phone=True)

    console.open("/console/no-such-page")
    assert console.h1() == "Page not found"
    console.check("not-found", "the 404 page: no such page, and a way back")

    console.open("/console/signup")
    # Long enough for the API's schema, refused by its password screening: the answer points at /password.
    console.submit("/console/signup", account_name="Weak", email=unique_email("weak"), password="a" * 20)
    assert console.h1() == "Create your account"
    assert "too easy to guess" in console.error("password"), console.main_text()[:800]
    assert console.driver.find_element("id", "f-password").get_attribute("aria-invalid") == "true"
    assert console.driver.find_element("id", "f-account_name").get_attribute("value") == "Weak"
    console.check("signup-errors", "sign-up refused: the password's error beside its field", phone=True)

    console.open("/console/login")
    console.submit("/console/login", email=unique_email("nobody"), password="wrong password 123")
    assert console.h1() == "Sign in"
    assert console.session_cookie() is None
    assert "password" in console.main_text().lower()
    console.check("login-refused", "sign-in refused: the reason above the form, nothing typed lost but the password")


def drop_csrf(console: Console, action: str) -> None:
    """Remove the hidden token from the form posting to `action` (what a forged form lacks)."""
    form = console.form(action)
    removed = console.driver.execute_script(
        "const f = arguments[0].querySelectorAll('input[name=csrf]'); f.forEach(e => e.remove()); return f.length;",
        form,
    )
    assert removed == 1, f"the form posting to {action} had {removed} csrf fields"


@pytest.fixture(scope="module")
def owner(console: Console, stack: LocalStack) -> dict[str, str]:
    """An owner who signed up and confirmed through the browser (signed in again by each test that needs it)."""
    email = unique_email("browser-owner")
    sign_up(console, stack, email, account_name="Browser Owner Co")
    return {"email": email}


def test_forms_without_their_token_are_refused_and_change_nothing(
    console: Console, stack: LocalStack, owner: dict[str, str]
) -> None:
    console.forget()
    console.open("/console/signup")
    email = unique_email("no-token")
    console.fill("/console/signup", account_name="Forged", email=email, password=PASSWORD)
    drop_csrf(console, "/console/signup")
    console.submit("/console/signup")
    assert console.h1() == "This form has expired"
    console.check("csrf-refused", "a form posted without its CSRF token: refused, reload and submit again")
    time.sleep(1)  # the mail worker would have sent the verification mail by now
    assert all(mail["to"] != email for mail in stack.request("GET", "/_local/outbox").json()["data"])

    sign_in(console, owner["email"])
    token = console.session_token()
    console.open("/console/reauth")  # a signed-in page: the header has the sign-out form
    drop_csrf(console, "/console/logout")
    console.submit("/console/logout")
    assert console.h1() == "This form has expired"
    assert console.session_token() == token
    assert api(stack, token, "GET", "/v1/me").status == 200, "the session must still be alive"


class _ForgingSite(http.server.BaseHTTPRequestHandler):
    """Another site's page: a form that posts to the console (no token: it cannot read one)."""

    target = ""

    def do_GET(self) -> None:
        page = (
            "<!doctype html><html lang='en'><title>Win a prize</title>"
            f"<form method='post' action='{self.target}/console/logout'>"
            "<input type='hidden' name='csrf' value='guessed'><button type='submit'>Claim</button></form></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def forging_site(stack: LocalStack) -> Iterator[int]:
    """A page of another origin on this machine (its port)."""
    handler = type("Forging", (_ForgingSite,), {"target": stack.base_url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_form_on_another_origin_cannot_post_to_the_console(
    console: Console, stack: LocalStack, owner: dict[str, str], forging_site: int, host: str
) -> None:
    """127.0.0.1:<other port> is the same site, another origin (the cookie goes, Sec-Fetch-Site says same-site);
    localhost is another site (SameSite=Strict keeps the cookie home). Either way: refused, still signed in."""
    sign_in(console, owner["email"])
    token = console.session_token()
    console.driver.get(f"http://{host}:{forging_site}/")
    console.submit(f"{stack.base_url}/console/logout")
    assert console.driver.current_url.startswith(f"{stack.base_url}/console/logout")
    assert console.h1() == "This form has expired"
    assert api(stack, token, "GET", "/v1/me").status == 200, "the session must still be alive"
    console.open("/console/login")
    assert console.session_token() == token


def test_the_session_cookie_has_every_attribute_and_no_url_carries_the_session(
    console: Console, stack: LocalStack, owner: dict[str, str]
) -> None:
    console.forget()
    console.open("/console/login")
    presession = {c["name"]: c for c in console.driver.get_cookies()}["__Host-sb_presession"]
    sign_in(console, owner["email"])
    cookies = {c["name"]: c for c in console.driver.get_cookies()}
    assert "__Host-sb_presession" not in cookies, "signing in ends the pre-session"
    for cookie in (presession, cookies[SESSION_COOKIE]):
        assert cookie["name"].startswith("__Host-")
        assert cookie["httpOnly"] is True
        assert cookie["secure"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/"
        # A host-only cookie (no Domain attribute): WebDriver names the host itself, never a `.domain`.
        assert cookie["domain"] == "127.0.0.1"
    token = console.session_token()
    assert token.startswith("sbs_")
    assert api(stack, token, "GET", "/v1/me").json()["email"] == owner["email"]
    assert SESSION_COOKIE not in console.driver.execute_script("return document.cookie"), "HttpOnly: no script sees it"

    console.open("/console/reauth?next=/console/reauth")
    console.submit("/console/reauth", password=PASSWORD)
    assert "Confirmed" in console.main_text()
    console.open("/console/reauth")
    console.submit("/console/logout")
    assert "You are signed out" in console.main_text()
    assert console.session_cookie() is None
    assert api(stack, token, "GET", "/v1/me").status == 401, "signing out ends the session at the API"

    urls = console.requested_urls()
    assert any("/console/" in url for url in urls), urls
    assert not [url for url in urls if token in url or token.removeprefix("sbs_") in url]
