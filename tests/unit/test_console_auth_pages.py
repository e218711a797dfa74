"""The console's own checks on its sign-up, reset and invitation forms (switchboard.console.pages.auth)."""

from __future__ import annotations

import re

import pytest

from switchboard.console.pages import auth
from switchboard.crypto import passwords
from tests.unit.console_support import FakeApi, app, csrf_of, event, install_fake_api, post, set_cookies


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    return install_fake_api(monkeypatch)


def test_the_forms_length_rule_is_the_password_policys() -> None:
    assert auth.NEW_PASSWORD_CHARS == (passwords.MIN_LENGTH, passwords.MAX_LENGTH)


@pytest.mark.parametrize(
    "form",
    [
        ("/console/signup", "/console/signup", "password", {"email": "a@example.com", "account_name": "A"}),
        ("/console/reset-password?token=t", "/console/reset-password/confirm", "new_password", {"token": "t"}),
        ("/console/accept-invitation?token=t", "/console/accept-invitation", "password", {"token": "t"}),
    ],
)
@pytest.mark.parametrize("wrong", [("short", "at least 15"), ("x" * 257, "at most 256")])
def test_a_new_password_of_the_wrong_length_is_shown_beside_its_field_without_calling_the_api(
    api: FakeApi, form: tuple[str, str, str, dict[str, str]], wrong: tuple[str, str]
) -> None:
    page, action, name, extra = form
    value, message = wrong
    path, _, query = page.partition("?")
    shown = app.handle(event("GET", path, query=dict([query.split("=")]) if query else None))
    cookie = set_cookies(shown)[0].split(";")[0]
    answer = post(action, {"csrf": csrf_of(shown["body"]), name: value, **extra}, cookie=cookie)
    assert answer["statusCode"] == 422
    error = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', answer["body"])
    assert error and message in error.group(1)
    assert 'aria-invalid="true"' in answer["body"]
    assert value not in answer["body"]  # a password is never written back into the page
    assert api.calls == []
