"""A form-posting HTTP client for the console (no JavaScript, like the console): cookies, CSRF fields, redirects."""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.e2e.conftest import LocalStack

PASSWORD = "plum orbit vessel gravel 41"  # pragma: allowlist secret


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class _Forms(HTMLParser):
    """Every form's action and its named fields' values (inputs, selects' selected options, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif self.forms and tag == "input" and a.get("name"):
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            self.forms[-1][1][a["name"]] = a.get("value", "")
        elif self.forms and tag == "select" and a.get("name"):
            self._select = a["name"]
            self.forms[-1][1].setdefault(a["name"], "")
        elif self.forms and tag == "option" and self._select:
            fields = self.forms[-1][1]
            if "selected" in a or not fields.get(self._select):
                fields[self._select] = a.get("value", "")
        elif self.forms and tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.forms[-1][1][a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1][1][self._textarea] += data


@dataclass
class Page:
    """One answer of the console."""

    status: int
    headers: dict[str, str]
    html: str
    url: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def forms(self) -> list[tuple[str, dict[str, str]]]:
        parser = _Forms()
        parser.feed(self.html)
        return parser.forms

    def form(self, action: str) -> dict[str, str]:
        """The fields of the first form posting to `action` (a path)."""
        for target, fields in self.forms():
            if target == action:
                return dict(fields)
        raise AssertionError(f"no form posts to {action} on {self.url}:\n{self.html[:2000]}")

    def error(self, name: str) -> str:
        """The error shown beside field `name`, or ''."""
        found = re.search(rf'<p class="error" id="e-{re.escape(name)}">(.*?)</p>', self.html, re.S)
        return found.group(1).strip() if found else ""

    def text(self) -> str:
        """The page's visible text, roughly (tags stripped)."""
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.html))


@dataclass
class ConsoleBrowser:
    """What a browser without JavaScript does: keeps cookies (the `__Host-` ones too, over loopback http, as
    Chromium does), posts forms with their hidden fields, follows 303s when asked."""

    stack: LocalStack
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)  # every Set-Cookie seen, raw
    user_agent: str = "ConsoleBrowser/1.0"
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (a CF-Connecting-IP, say)

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Page:
        url = self.stack.base_url + path
        sent = {"User-Agent": self.user_agent, **self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=body, method=method, headers=sent)
        try:
            with _OPENER.open(request, timeout=60) as response:
                status, raw_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, raw_headers, raw = error.code, error.headers, error.read()
        for value in raw_headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(value)
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";")[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        headers_ = {k.lower(): v for k, v in raw_headers.items()}
        return Page(status, headers_, raw.decode("utf-8", "replace"), path)

    def get(self, path: str, *, follow: bool = True) -> Page:
        page = self.request("GET", path)
        return self._follow(page) if follow else page

    def post(self, path: str, data: dict[str, str], *, follow: bool = True) -> Page:
        page = self.request("POST", path, data)
        return self._follow(page) if follow else page

    def submit(self, page_path: str, action: str, *, follow: bool = True, **fields: str) -> Page:
        """Open `page_path`, fill the form posting to `action` with `fields` on top of its own, submit it."""
        form = self.get(page_path).form(action)
        form.update(fields)
        return self.post(action, form, follow=follow)

    def _follow(self, page: Page) -> Page:
        hops = 0
        while page.status in {301, 302, 303, 307} and hops < 5:
            location = page.location
            path = urlsplit(location).path + (f"?{urlsplit(location).query}" if urlsplit(location).query else "")
            page = self.request("GET", path)
            hops += 1
        return page


def unique_email(stem: str = "console") -> str:
    return f"{stem}-{secrets.token_hex(4)}@example.com"


def token_for(stack: LocalStack, address: str) -> str:
    """The newest single-use token e-mailed to `address` (the local outbox)."""
    for mail in stack.request("GET", "/_local/outbox").json()["data"]:
        if mail["to"] == address and mail.get("token"):
            return str(mail["token"])
    raise AssertionError(f"no token e-mailed to {address}")


def signed_up(
    stack: LocalStack,
    *,
    email: str | None = None,
    account_name: str = "Console Co",
    browser: ConsoleBrowser | None = None,
) -> tuple[ConsoleBrowser, str]:
    """A new owner signed in through the console's own forms: sign up, confirm from the outbox, sign in."""
    browser = browser or ConsoleBrowser(stack)
    email = email or unique_email()
    page = browser.submit(
        "/console/signup", "/console/signup", email=email, password=PASSWORD, account_name=account_name
    )
    assert "/console/login" in page.url, page.text()[:500]
    token = token_for(stack, email)
    browser.submit(f"/console/verify-email?token={token}", "/console/verify-email")
    page = browser.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    assert "__Host-sb_session" in browser.cookies, page.text()[:500]
    return browser, email
