"""The console's sign-up, e-mail confirmation, sign-in (with TOTP), sign-out, password reset, invitation and
re-authentication pages, driven over HTTP against a real local stack (the API behind them is the real one)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import pyotp
import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, Page, signed_up, unique_email
from tests.e2e.console_forms import token_for as newest_token

pytestmark = pytest.mark.e2e

SESSION = "__Host-sb_session"
PRESESSION = "__Host-sb_presession"


@dataclass
class RecordingBrowser(ConsoleBrowser):
    """A ConsoleBrowser that keeps every answer it got (redirects included)."""

    answers: list[Page] = field(default_factory=list)

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Page:
        page = super().request(method, path, data, headers)
        self.answers.append(page)
        return page


def token_for(stack: LocalStack, address: str) -> str:
    """The newest token e-mailed to `address`; the outbox waits 10 s for the mail worker, which a loaded machine
    may need more than once."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return newest_token(stack, address)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _token(browser: ConsoleBrowser) -> str:
    """The API session token the cookie carries (what a browser never shows a page)."""
    return browser.cookies[SESSION].split("~")[0]


def _me(stack: LocalStack, token: str) -> int:
    return stack.request("GET", "/v1/me", headers={"Authorization": f"Bearer {token}"}).status


def _now(stack: LocalStack) -> int:
    answer = stack.request("POST", "/_local/clock", {"advance_s": 0}).json()
    return int(datetime.fromisoformat(answer["now"]).timestamp())


def _advance(stack: LocalStack, seconds: int) -> None:
    assert stack.request("POST", "/_local/clock", {"advance_s": seconds}).status == 200


def _sign_in(browser: ConsoleBrowser, email: str, password: str = PASSWORD, **fields: str) -> Page:
    return browser.submit("/console/login", "/console/login", email=email, password=password, **fields)


def test_sign_up_confirm_sign_in_and_sign_out_kills_the_token(stack: LocalStack) -> None:
    browser = RecordingBrowser(stack)
    email = unique_email("auth")
    page = browser.get("/console/signup")
    assert page.status == 200 and "<h1>Create your account</h1>" in page.html
    page = browser.submit("/console/signup", "/console/signup", email=email, password=PASSWORD, account_name="Auth Co")
    assert page.url.startswith("/console/login?notice=verify_sent") and "Check your e-mail" in page.text()
    token = token_for(stack, email)
    # The e-mailed link opens a form; only its button spends the token.
    page = browser.get(f"/console/verify-email?token={token}")
    assert page.status == 200 and page.form("/console/verify-email")["token"] == token
    page = browser.submit(f"/console/verify-email?token={token}", "/console/verify-email")
    assert "Your e-mail address is confirmed" in page.text()
    page = _sign_in(browser, email)
    assert SESSION in browser.cookies and PRESESSION not in browser.cookies
    session = _token(browser)
    assert _me(stack, session) == 200
    # Signed in, a page shows who and the two timeouts the API enforces.
    page = browser.get("/console/reauth")
    assert page.status == 200 and email in page.html
    footer = page.html.split('<footer class="bottom">')[1]
    until = re.search(
        r"Signed in until (\d{4}-\d\d-\d\d \d\d:\d\d UTC); you are signed out after (\d+) minutes", footer
    )
    assert until and until.group(2) == "30", footer
    page = browser.post("/console/logout", browser.get("/console/reauth").form("/console/logout"))
    assert "You are signed out" in page.text()
    assert SESSION not in browser.cookies
    assert _me(stack, session) == 401  # dead at the API, not only forgotten by the browser
    # The session token never appeared in a Location header or a page.
    for answer in browser.answers:
        assert session not in answer.location and session not in answer.html, answer.url
    # Signed out, a signed-in page sends the browser to sign in (and back afterwards).
    page = browser.get("/console/reauth", follow=False)
    assert (page.status, page.location) == (303, "/console/login?next=%2Fconsole%2Freauth")


def test_session_cookie_attributes(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    (session,) = [c for c in browser.set_cookies if c.startswith(f"{SESSION}=sbs_")]
    _, *attributes = [part.strip() for part in session.split(";")]
    found = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
    assert set(found) == {"max-age", "path", "secure", "httponly", "samesite"}  # no Domain: __Host- forbids it
    assert (found["path"], found["samesite"]) == ("/", "Strict")
    assert 0 < int(found["max-age"]) <= 12 * 3600 + 60
    for value in browser.set_cookies:
        assert value.split("=")[0].startswith("__Host-") and "; Secure; HttpOnly; SameSite=Strict" in value


def test_a_wrong_password_is_shown_on_the_form_with_401_and_no_session(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    stranger = ConsoleBrowser(stack)
    page = _sign_in(stranger, email, password="not the password at all")
    assert page.status == 401
    assert 'role="alert"' in page.html and "<h1>Sign in</h1>" in page.html
    assert page.form("/console/login")["email"] == email  # what was typed stays, the password does not
    assert "not the password at all" not in page.html
    assert SESSION not in stranger.cookies
    assert _me(stack, _token(browser)) == 200


def test_totp_sign_in_needs_the_code_beside_its_field_and_a_code_works_once(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    token = _token(browser)
    bearer = {"Authorization": f"Bearer {token}"}
    enrolled = stack.request("POST", "/v1/me/mfa/totp", headers=bearer)
    assert enrolled.status == 201, enrolled.body
    totp = pyotp.TOTP(enrolled.json()["secret"])
    activated = stack.request("POST", "/v1/me/mfa/totp/activate", {"code": totp.at(_now(stack))}, headers=bearer)
    assert activated.status == 200
    _advance(stack, 30)  # the activation spent this step's code
    other = ConsoleBrowser(stack)
    page = _sign_in(other, email)
    assert page.status == 401
    assert page.error("code") == "Enter the code from your authenticator app."
    assert 'aria-invalid="true"' in page.html and 'aria-describedby="h-code e-code"' in page.html
    assert SESSION not in other.cookies
    code = totp.at(_now(stack))
    page = _sign_in(other, email, code=code)
    assert SESSION in other.cookies, page.text()[:500]
    assert _me(stack, _token(other)) == 200
    # The same code again is refused: each code signs in once.
    third = ConsoleBrowser(stack)
    page = _sign_in(third, email, code=code)
    assert page.status == 401 and page.error("code")
    assert SESSION not in third.cookies


def test_password_reset_through_the_console_ends_every_session(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    old = _token(browser)
    visitor = ConsoleBrowser(stack)
    page = visitor.submit("/console/reset-password", "/console/reset-password", email=email)
    assert "we sent it a link" in page.text()
    reset = token_for(stack, email)
    page = visitor.get(f"/console/reset-password?token={reset}")
    assert "<h1>Choose a new password</h1>" in page.html
    page = visitor.submit(
        f"/console/reset-password?token={reset}",  # pragma: allowlist secret
        "/console/reset-password/confirm",  # pragma: allowlist secret
        new_password="short",  # pragma: allowlist secret
    )
    assert page.status == 422 and "at least 15" in page.error("new_password")
    new_password = "copper meadow lantern 2026"  # pragma: allowlist secret
    page = visitor.submit(
        f"/console/reset-password?token={reset}", "/console/reset-password/confirm", new_password=new_password
    )
    assert "Your password is changed" in page.text()
    assert _me(stack, old) == 401
    assert _sign_in(ConsoleBrowser(stack), email).status == 401
    fresh = ConsoleBrowser(stack)
    _sign_in(fresh, email, password=new_password)
    assert _me(stack, _token(fresh)) == 200
    # The link is single use.
    page = visitor.submit(
        f"/console/reset-password?token={reset}", "/console/reset-password/confirm", new_password=new_password + "x"
    )
    assert page.status >= 400 and "Your password is changed" not in page.text()


def test_an_invitation_is_accepted_through_the_console(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    invitee = unique_email("invitee")
    invited = stack.request(
        "POST", "/v1/members", {"email": invitee, "role": "admin"}, headers={"Authorization": f"Bearer {_token(owner)}"}
    )
    assert invited.status == 201, invited.body
    token = token_for(stack, invitee)
    browser = ConsoleBrowser(stack)
    page = browser.get(f"/console/accept-invitation?token={token}")
    assert page.status == 200 and "Join your team" in page.html
    page = browser.submit(f"/console/accept-invitation?token={token}", "/console/accept-invitation", password="x")
    assert page.status == 422 and "at least 15" in page.error("password")
    page = browser.submit(f"/console/accept-invitation?token={token}", "/console/accept-invitation", password=PASSWORD)
    assert "Welcome aboard" in page.text()
    _sign_in(browser, invitee)
    page = browser.get("/console/reauth")
    assert invitee in page.html and '<span class="role">admin</span>' in page.html


def test_reauth_page_renews_a_stale_session_and_goes_back(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    bearer = {"Authorization": f"Bearer {_token(browser)}"}
    _advance(stack, 301)  # the sign-in is now older than the 5-minute window
    stale = stack.request("POST", "/v1/me/mfa/totp", headers=bearer)
    assert (stale.status, stale.json()["code"]) == (401, "reauth_required")
    page = browser.get("/console/reauth?next=/console/api-keys")
    assert page.form("/console/reauth")["next"] == "/console/api-keys"
    page = browser.submit("/console/reauth?next=/console/api-keys", "/console/reauth", password="wrong password!!")
    assert page.status == 401 and SESSION in browser.cookies  # a wrong password keeps the session
    page = browser.submit("/console/reauth?next=/console/api-keys", "/console/reauth", password=PASSWORD, follow=False)
    assert (page.status, page.location) == (303, "/console/api-keys?notice=reauthenticated")
    assert stack.request("POST", "/v1/me/mfa/totp", headers=bearer).status == 201
    # An address of another site is never where it goes back to.
    page = browser.submit("/console/reauth?next=//evil.example", "/console/reauth", password=PASSWORD, follow=False)
    assert page.location == "/console/messages?notice=reauthenticated"


def test_posts_without_the_csrf_field_are_403_and_change_nothing(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    token = _token(browser)
    for action, fields in [
        ("/console/logout", {}),
        ("/console/reauth", {"password": PASSWORD, "next": "/console/messages"}),
        ("/console/login", {"email": email, "password": PASSWORD}),
    ]:
        page = browser.post(action, fields)
        assert page.status == 403 and "This form has expired" in page.html, action
    assert _me(stack, token) == 200 and _token(browser) == token  # still signed in, same session
    stranger = ConsoleBrowser(stack)
    stranger.get("/console/signup")
    address = unique_email("nocsrf")
    page = stranger.post("/console/signup", {"email": address, "password": PASSWORD, "account_name": "X"})
    assert page.status == 403
    page = stranger.post("/console/reset-password", {"email": email})
    assert page.status == 403
    outbox = stack.request("GET", "/_local/outbox").json()["data"]
    assert not [m for m in outbox if m["to"] == address]
    # A token from another browser's pre-session does not pass either.
    form = ConsoleBrowser(stack).get("/console/login").form("/console/login")
    page = stranger.post("/console/login", {**form, "email": email, "password": PASSWORD})
    assert page.status == 403 and SESSION not in stranger.cookies


@pytest.mark.parametrize(
    "path",
    [
        "/console/nothing-here",
        "/console/%00",
        "/console/" + quote("é" * 50),
        "/console/login/" + "x" * 3000,
        "/console/verify-email?token=" + "%ff" * 10,
        "/console/reset-password?token=" + quote("\u202e\ud800", errors="surrogatepass"),
        "/console/accept-invitation?token=" + "a" * 5000,
    ],
)
def test_garbage_never_answers_5xx(stack: LocalStack, path: str) -> None:
    page = ConsoleBrowser(stack).get(path)
    assert 200 <= page.status < 500, (page.status, page.html[:300])
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
