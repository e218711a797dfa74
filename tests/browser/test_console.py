"""The console in headless Chromium against a local stack: a new owner's first day, a viewer, CSRF, the session
cookie, and axe-core with a screenshot on every page (desktop, and phone width for the main ones)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyotp
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


def stack_now(stack: LocalStack) -> int:
    """The local stack's clock (it can be moved: TOTP codes are checked against it)."""
    answer = stack.request("POST", "/_local/clock", {"advance_s": 0}).json()
    return int(datetime.fromisoformat(answer["now"]).timestamp())


def next_totp_step(stack: LocalStack) -> None:
    """Move the stack's clock to the next 30-second step: a code is accepted once, so the next one must differ."""
    assert stack.request("POST", "/_local/clock", {"advance_s": 30}).status == 200


def add_opted_in_recipient(console: Console, phone: str, name: str) -> str:
    """Add a recipient and record their SMS opt-in through the recipient pages; returns its id."""
    console.open("/console/recipients")
    console.submit("/console/recipients", phone=phone, name=name)
    assert "Recipient created" in console.main_text(), console.main_text()[:800]
    recipient_id = console.path.split("?")[0].rsplit("/", 1)[1]
    console.submit(f"/console/recipients/{recipient_id}/consents", channel="sms", status="opted_in", source="web_form")
    assert "Consent recorded" in console.main_text(), console.main_text()[:800]
    return recipient_id


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


def enrol_totp(console: Console, stack: LocalStack) -> pyotp.TOTP:
    """Turn two-step sign-in on from the profile, reading the key beside the QR code as a person types it."""
    console.open("/console/profile")
    console.check("profile", "the profile: e-mail, role, two-step sign-in off, password change", phone=True)
    console.submit("/console/profile/totp")
    assert console.h1() == "Set up two-step sign-in"
    assert console.driver.find_elements("css selector", "figure.qr svg[role=img]"), "the QR code is an inline SVG"
    secret = console.driver.find_element("id", "totp-secret").text.replace(" ", "")
    console.check("totp-enrol", "two-step sign-in: the QR code (inline SVG), its key as text, the code field")
    totp = pyotp.TOTP(secret)
    console.submit("/console/profile/totp/activate", code=totp.at(stack_now(stack)))
    assert console.h1() == "Your recovery codes", console.main_text()[:800]
    assert len(console.driver.find_elements("css selector", "ul.codes code")) == 10
    console.check("recovery-codes", "the ten recovery codes, shown once after two-step sign-in is turned on")
    console.open("/console/profile")
    assert "On" in console.driver.find_element("css selector", "dl.facts").text
    return totp


def sign_in_with_code(console: Console, stack: LocalStack, email: str, totp: pyotp.TOTP) -> None:
    """Sign out, then in: the password alone is not enough, the code beside it is."""
    console.submit("/console/logout")
    assert "You are signed out" in console.main_text()
    console.submit("/console/login", email=email, password=PASSWORD)
    assert console.session_cookie() is None
    assert "code from your authenticator app" in console.error("code")
    console.check("login-code-required", "sign-in asks for the code: its error beside the code field", phone=True)
    next_totp_step(stack)
    console.submit("/console/login", email=email, password=PASSWORD, code=totp.at(stack_now(stack)))
    assert console.session_cookie() is not None, console.main_text()[:800]


def create_api_key(console: Console, stack: LocalStack) -> str:
    """Create a key: shown once, it works against the API, and the list never shows it again."""
    console.open("/console/api-keys")
    console.check("api-keys-empty", "API keys: what a key is for, an empty state, the create form", phone=True)
    console.submit("/console/api-keys", name="billing server", role="developer")
    key = str(console.driver.find_element("id", "new-key").text)
    assert key.startswith("sb_"), key
    console.check("api-key-created", "a new API key, shown this once, with its name, role and expiry")
    assert api(stack, key, "GET", "/v1/account").status == 200
    console.open("/console/api-keys")
    assert "billing server" in console.main_text()
    assert key not in console.driver.page_source
    console.check("api-keys", "API keys: the live key's name, prefix and role, with rotate and revoke", phone=True)
    return key


def invite(console: Console, stack: LocalStack, email: str, role: str) -> str:
    """Invite `email` from the members page; returns the token its e-mail carries."""
    console.open("/console/members")
    console.submit("/console/members", email=email, role=role)
    assert "Invitation sent" in console.main_text(), console.main_text()[:800]
    assert email in console.main_text()
    return mail_token(stack, email)


def send_and_watch(console: Console, recipient_id: str, body: str, *, shoot: bool = False) -> str:
    """Send from the form, then reload the message's page (its Refresh link) until it says delivered."""
    console.open(f"/console/messages/new?recipient_id={recipient_id}")
    if shoot:
        console.check("message-new", "the send form: recipient, channel, message text")
    console.submit("/console/messages/new", channel="sms", body=body)
    assert "Message queued" in console.main_text(), console.main_text()[:800]
    message_id = console.path.split("?")[0].rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while "delivered" not in console.driver.find_element("css selector", "main p .status").text:
        assert time.monotonic() < deadline, console.main_text()[:1500]
        time.sleep(0.5)
        console.open(f"/console/messages/{message_id}")
    timeline = [li.text for li in console.driver.find_elements("css selector", "ol.timeline li")]
    assert any("delivered" in entry for entry in timeline), timeline
    return message_id


def test_a_new_owner_signs_up_enrols_totp_creates_a_key_invites_and_sends(console: Console, stack: LocalStack) -> None:
    """Issue 15's first day, in the browser: every page on the way gets a screenshot and axe-core."""
    email = unique_email("first-day")
    console.forget()
    console.open("/console/signup")
    console.submit("/console/signup", account_name="First Day Ltd", email=email, password=PASSWORD)
    console.check("signup-done", "after sign-up: the sign-in page asks to check the e-mail")
    console.open(f"/console/verify-email?token={mail_token(stack, email)}")
    console.submit("/console/verify-email")
    assert "Your e-mail address is confirmed" in console.main_text()
    console.check("verified", "the address is confirmed: sign in to continue")
    console.submit("/console/login", email=email, password=PASSWORD)
    assert console.path.startswith("/console/messages")
    assert email in console.text()
    console.check(
        "messages-empty", "the message log of a new account: an empty state that says how to send", phone=True
    )

    totp = enrol_totp(console, stack)
    sign_in_with_code(console, stack, email, totp)
    token = console.session_token()
    assert api(stack, token, "GET", "/v1/me").json()["mfa_enabled"] is True

    create_api_key(console, stack)
    teammate = unique_email("teammate")
    assert invite(console, stack, teammate, "agent")
    console.check("members", "members: the owner and the pending invitation, with role and remove", phone=True)

    recipient_id = add_opted_in_recipient(console, "+14155550177", "Ada Example")
    console.check("recipient", "a recipient: number, consent per channel, the consent ledger, erasure", phone=True)
    message_id = send_and_watch(console, recipient_id, "Your table is ready", shoot=True)
    assert api(stack, token, "GET", f"/v1/messages/{message_id}").json()["status"] == "delivered"
    console.check(
        "message-delivered", "a delivered message: its facts and the timeline of events and attempts", phone=True
    )
    console.open("/console/messages")
    assert message_id in console.driver.page_source
    console.check("messages", "the message log with the delivered message", phone=True)
    assert not [url for url in console.requested_urls() if token in url]


def forge_post(console: Console, action: str, **fields: str) -> None:
    """Post a form the page does not offer, with the page's own CSRF token (a person editing the page, or a page
    bug): only the server's refusal stands between it and the API."""
    token = console.form("/console/logout").find_element("name", "csrf").get_attribute("value")
    console.driver.execute_script(
        """
        const [action, fields] = arguments, form = document.createElement('form');
        form.method = 'post'; form.action = action;
        for (const [name, value] of Object.entries(fields)) {
          const input = document.createElement('input'); input.type = 'hidden'; input.name = name; input.value = value;
          form.appendChild(input);
        }
        const button = document.createElement('button'); button.type = 'submit'; button.textContent = 'Forged';
        form.appendChild(button); document.body.appendChild(form);
        """,
        action,
        {"csrf": token, **fields},
    )
    console.submit(action, button="Forged")


def test_a_viewer_sees_masked_numbers_and_no_write_buttons(
    console: Console, stack: LocalStack, owner: dict[str, str]
) -> None:
    phone, masked = "+14155550188", "+1******0188"
    sign_in(console, owner["email"])
    recipient_id = add_opted_in_recipient(console, phone, "Grace Viewer-Test")
    message_id = send_and_watch(console, recipient_id, "Seen by a viewer")
    viewer = unique_email("viewer")
    token = invite(console, stack, viewer, "viewer")

    console.forget()
    console.open(f"/console/accept-invitation?token={token}")
    console.submit("/console/accept-invitation", password=PASSWORD)
    assert "Welcome aboard" in console.main_text(), console.main_text()[:800]
    sign_in(console, viewer)
    viewer_token = console.session_token()
    assert api(stack, viewer_token, "GET", "/v1/me").json()["role"] == "viewer"
    nav = console.driver.find_element("css selector", "nav[aria-label=Main]").text
    assert "API keys" not in nav and "Webhooks" not in nav

    pages = (
        ("/console/recipients", "viewer-recipients", "a viewer's recipients: numbers masked, no add form"),
        (f"/console/recipients/{recipient_id}", "viewer-recipient", "a viewer's recipient: masked, no consent form"),
        ("/console/messages", "viewer-messages", "a viewer's message log: numbers masked, no send button"),
        (f"/console/messages/{message_id}", "viewer-message", "a viewer's message: the number masked"),
    )
    for path, name, shows in pages:
        console.open(path)
        assert phone not in console.driver.page_source, path
        assert masked in console.main_text(), (path, console.main_text()[:800])
        assert console.post_actions() == {"/console/logout"}, (path, console.post_actions())
        assert console.post_buttons() == ["Sign out"], (path, console.post_buttons())
        assert "Send a message" not in console.main_text()
        console.check(name, shows, phone=name == "viewer-recipients")

    console.open("/console/messages/new")
    assert console.h1() == "Not allowed"
    before = api(stack, viewer_token, "GET", "/v1/recipients").json()["data"]
    console.open("/console/recipients")
    forge_post(console, "/console/recipients", phone="+14155550199", idempotency_key="forged-by-a-viewer-0001")
    assert console.h1() == "Not allowed", console.main_text()[:800]
    console.check("viewer-refused", "a viewer's forged form: the server refuses it, nothing changed")
    assert api(stack, viewer_token, "GET", "/v1/recipients").json()["data"] == before
    console.open(f"/console/recipients/{recipient_id}")
    forge_post(console, f"/console/recipients/{recipient_id}/erase", confirm="erase")
    assert console.h1() == "Not allowed", console.main_text()[:800]
    assert api(stack, viewer_token, "GET", f"/v1/recipients/{recipient_id}").json()["phone"] == masked


def test_every_other_console_page_renders_and_passes_axe(
    console: Console, stack: LocalStack, owner: dict[str, str]
) -> None:
    """The pages the first day does not pass through, signed in as an owner: each with its screenshot and axe."""
    sign_in(console, owner["email"])
    recipients = api(stack, console.session_token(), "GET", "/v1/recipients").json()["data"]
    recipient_id = recipients[0]["id"] if recipients else add_opted_in_recipient(console, "+14155550166", "Lin")
    pages = (
        ("/console/recipients", "recipients", "Recipients", "recipients: numbers, consent per channel, add form", True),
        ("/console/sessions", "sessions", None, "where you are signed in, with revoke", True),
        ("/console/webhooks", "webhooks-empty", "Webhooks", "webhooks: an empty state and the add form", True),
        ("/console/audit", "audit", None, "the audit trail with the chain verification result", True),
        ("/console/account", "account", None, "the account: plan, usage against limits, export, delete", True),
        ("/console/account/delete", "account-delete", None, "closing the account: what happens, password", False),
        ("/console/conversations", "conversations", None, "conversations: one per recipient", True),
        (f"/console/conversations/{recipient_id}", "conversation", None, "one conversation's thread", False),
        ("/console/files", "files", None, "files: an empty state", False),
        ("/console/recordings", "recordings", None, "call recordings: an empty state", False),
        ("/console/reauth", "reauth", "Confirm it's you", "re-authentication before a sensitive action", False),
        ("/console/messages/msg_doesnotexist", "message-not-found", "Not found", "an unknown message id: 404", False),
    )
    for path, name, heading, shows, phone in pages:
        console.open(path)
        assert "/console/login" not in console.path, path
        if heading:
            assert console.h1() == heading, (path, console.h1())
        console.check(name, shows, phone=phone)

    console.open("/console/webhooks")
    console.submit("/console/webhooks", url="http://127.0.0.1:9/hooks/switchboard")
    assert console.driver.find_elements("css selector", ".secret"), console.main_text()[:800]
    console.check("webhook-secret", "a new webhook endpoint's signing secret, shown once")
    console.open("/console/webhooks")
    assert "http://127.0.0.1:9/hooks/switchboard" in console.main_text()
    console.check("webhooks", "webhooks: the endpoint with its events, rotate and delete", phone=True)
    console.driver.find_element("partial link text", "Delivery log").click()
    console.check("webhook-deliveries", "one endpoint's delivery log")

    console.submit("/console/logout")
    console.open("/console/account/restore")
    console.check("account-restore", "restoring a deleted account (signed out)")
