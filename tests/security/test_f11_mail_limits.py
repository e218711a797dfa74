"""Finding 11, platform e-mail limits and tenant text in invitations (R49).

Per address and hour: at most mailer.LIMITS[kind] e-mails of a kind, whoever asks; the excess of reset and
verification mail is dropped without a word (the answers stay 202 and identical, nothing tells which addresses
exist). Invitations, sent by an authenticated caller, get a visible 429 with Retry-After. An invitation's subject
carries no tenant text; its body shows the account name quoted and inert (no scheme, host, address or path a mail
client could turn into a link).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard import clock
from switchboard.logic import mailer, members
from tests.integration.identity import gateway
from tests.integration.identity.support import PASSWORD, call, mails_to, register, signup

# What an attacker would put in an account name to make a link of it: schemes, hosts, addresses, paths, and the
# same with full-width or ideographic dots, percent-escapes and look-alike separators.
HOSTILE = [
    "https://evil.example/login",
    "Acme http://evil.example",
    "Acme www.evil.example",
    "evil.example",
    "Pay at evil\uff0eexample now",
    "evil\u3002example",
    "support@evil.example",
    "javascript:alert(1)",
    "mailto:help@evil.example",
    "evil%2Eexample",
    "ftp://x.y/z",
    "Acme\u202e\u200bhttps://evil.example",
    "evil[.]example",
    "data:text/html,<b>",
    "Acme Widgets",
]
URLISH = re.compile(r"(?i)([a-z][a-z0-9+.-]*:)|(\w[.\uff0e\u3002\uff61]\w)|@|/|%|<|>|\\")


def _name_in(body: str) -> str:
    found = re.search(r'account named (".*?") as ', body)
    assert found, body
    return found.group(1)


@pytest.mark.parametrize("name", HOSTILE)
def test_f11_inert_name_leaves_nothing_a_mail_client_could_link(name: str) -> None:
    shown = members.inert_name(name)
    assert shown.startswith('"') and shown.endswith('"')
    assert not URLISH.search(shown[1:-1]), shown


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_f11_inert_name_is_one_quoted_linkless_line_for_any_text(name: str) -> None:
    shown = members.inert_name(name)
    inner = shown[1:-1]
    assert shown == f'"{inner}"' and '"' not in inner
    assert "\n" not in shown and "\r" not in shown and len(inner) <= 3 * members.NAME_IN_MAIL_MAX
    assert not URLISH.search(inner), shown


def test_f11_invitation_subject_has_no_tenant_text_and_the_body_shows_it_inert(identity: dict[str, str]) -> None:
    gateway.register("owner@example.com", account_name="Pay at https://evil.example/login")
    owner = gateway.login("owner@example.com")
    invited = gateway.call("POST", "/v1/members", {"email": "dev@example.com", "role": "developer"}, token=owner)
    assert invited.status == 201
    [mail] = mails_to("dev@example.com")
    assert mail.subject == "Switchboard: you are invited to join an account"
    shown = _name_in(mail.body)
    assert shown == '"Pay at httpsevil[.]examplelogin"'
    assert "evil.example" not in mail.body


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_f11_reset_mail_is_capped_per_address_silently(identity: dict[str, str], known: bool) -> None:
    address = "jane@example.com"
    if known:
        register(address)

    def links() -> list[Any]:
        return [m for m in mails_to(address) if "reset your password" in m.subject]

    answers = {
        repr((a.status, a.body)) for a in (call("POST", "/v1/password-resets", {"email": address}) for _ in range(25))
    }
    assert answers == {repr((202, {"status": "reset_requested"}))}
    sent = links()
    assert len(sent) == (mailer.LIMITS["reset"] if known else 0)
    if known:
        # The newest delivered link still works: dropped requests did not replace it.
        token = re.search(r"\?token=([A-Za-z0-9_-]+)", sent[-1].body)
        assert token
        confirm = {"token": token.group(1), "new_password": "another passphrase entirely"}
        assert call("POST", "/v1/password-resets/confirm", confirm).status == 204
        # A new hour, a new allowance.
        clock.advance(3600)
        assert call("POST", "/v1/password-resets", {"email": address}).status == 202
        assert len(links()) == mailer.LIMITS["reset"] + 1


def test_f11_verification_mail_is_capped_per_address_silently(identity: dict[str, str]) -> None:
    answers = {repr((a.status, a.body)) for a in (signup("new@example.com", PASSWORD) for _ in range(8))}
    assert answers == {repr((202, {"status": "verification_sent"}))}
    assert len(mails_to("new@example.com")) == mailer.LIMITS["verify"]


@pytest.mark.parametrize("scope", ["address", "account"])
def test_f11_invitations_over_the_limit_are_a_visible_429(identity: dict[str, str], scope: str) -> None:
    gateway.register("boss@example.com")
    owner = gateway.login("boss@example.com")
    limit = mailer.INVITATIONS_PER_ADDRESS if scope == "address" else mailer.INVITATIONS_PER_ACCOUNT

    def invite(n: int) -> tuple[int, dict[str, str], dict[str, object]]:
        email = "same@example.com" if scope == "address" else f"member{n}@example.com"
        answer = gateway.call("POST", "/v1/members", {"email": email, "role": "viewer"}, token=owner)
        return answer.status, answer.headers, answer.body

    assert [invite(n)[0] for n in range(limit)] == [201] * limit
    status, headers, body = invite(limit)
    assert status == 429
    assert body["code"] == "invitation_limit"
    assert 1 <= int(headers["Retry-After"]) <= 3600
    assert headers["Content-Type"] == "application/problem+json"
