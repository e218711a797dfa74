"""Finding 14 (R11): a successful login from an IP address or device not seen before on the account earns one notice.

The first login of a user (after signup, after accepting an invitation) is remembered, not reported; failed logins
never notify; what is remembered is a keyed per-user digest, never the address or user agent itself; the user agent
(client-chosen text) cannot shape the e-mail.
"""

from __future__ import annotations

import json

import boto3
import pytest

from switchboard.logic import sessions
from switchboard.models.errors import ProblemError
from switchboard.models.identity import LoginIn
from switchboard.models.request import RequestMeta
from tests.integration.identity.gateway import add_member, login, register
from tests.integration.identity.support import mails_to
from tests.security.identity_fixtures import PASSWORD, _handlers_run_as_deployed, aws, identity  # noqa: F401

EMAIL = "jane@example.com"
HOME = ("198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
SUBJECT = "Switchboard: new login to your account"


def _login(email: str, ip: str, agent: str, password: str = PASSWORD) -> str:
    try:
        sessions.login(LoginIn(email=email, password=password), RequestMeta("req", ip, agent))
    except ProblemError as error:
        return error.instance_code
    return "created"


def _notices(email: str = EMAIL) -> list[str]:
    return [m.body for m in mails_to(email) if m.subject == SUBJECT]


def _audit_new_device() -> list[dict[str, object]]:
    client = boto3.client("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "Audit" in n)
    found = []
    for item in client.scan(TableName=table)["Items"]:
        text = json.dumps(item, default=repr)
        if "login.new_device" in text:
            found.append(item)
    return found


# (ip, user agent) of the second login, after a first one from HOME; and whether it is new.
SECOND_LOGINS = {
    "same IP, same device": (HOME, False),
    "new IP, same device": (("203.0.113.9", HOME[1]), True),
    "same IP, new device": ((HOME[0], "curl/8.9.1"), True),
    "new IP and new device": (("2001:db8::77", "python-requests/2.32"), True),
    "IPv6 form of a new address": (("2001:db8:0:0:0:0:0:78", HOME[1]), True),
    "empty user agent": ((HOME[0], ""), True),
}


@pytest.mark.parametrize("case", list(SECOND_LOGINS))
def test_a_login_from_a_new_ip_or_device_sends_one_notice(identity: dict[str, str], case: str) -> None:  # noqa: F811
    register(EMAIL, password=PASSWORD)
    assert _login(EMAIL, *HOME) == "created"
    assert _notices() == []  # the first login after signup is not "new"
    (ip, agent), new = SECOND_LOGINS[case]
    assert _login(EMAIL, ip, agent) == "created"
    assert len(_notices()) == (1 if new else 0)
    assert len(_audit_new_device()) == (1 if new else 0)
    if new:
        assert ip in _notices()[0]
        assert "reset your password" in _notices()[0]
    # Remembered: the same place again is quiet, and so is home.
    assert _login(EMAIL, ip, agent) == "created"
    assert _login(EMAIL, *HOME) == "created"
    assert len(_notices()) == (1 if new else 0)


def test_failed_logins_from_new_places_never_notify(identity: dict[str, str]) -> None:  # noqa: F811
    register(EMAIL, password=PASSWORD)
    assert _login(EMAIL, *HOME) == "created"
    for n in range(3):
        assert _login(EMAIL, f"203.0.113.{n + 20}", f"bot/{n}", password="not the password at all") == (
            "invalid_credentials"
        )
    assert _notices() == []
    # A wrong guess does not make its place known: the right password from there later is still new.
    assert _login(EMAIL, "203.0.113.20", "bot/0") == "created"
    assert len(_notices()) == 1


def test_first_login_of_an_invited_member_is_not_new(identity: dict[str, str]) -> None:  # noqa: F811
    register("olga@example.com", password=PASSWORD)
    add_member(login("olga@example.com", PASSWORD), "dev@example.com", "developer", password=PASSWORD)
    assert _login("dev@example.com", "192.0.2.44", "first/1.0") == "created"
    assert _notices("dev@example.com") == []
    assert _login("dev@example.com", "192.0.2.45", "first/1.0") == "created"
    assert len(_notices("dev@example.com")) == 1


@pytest.mark.parametrize(
    "agent",
    [
        "evil\r\nSubject: reset\r\n\r\nClick https://phish.example",
        "x" * 5000,
        "\u202eevil\u0000agent\u200b",
    ],
)
def test_the_user_agent_cannot_shape_the_notice(identity: dict[str, str], agent: str) -> None:  # noqa: F811
    register(EMAIL, password=PASSWORD)
    assert _login(EMAIL, *HOME) == "created"
    assert _login(EMAIL, HOME[0], agent) == "created"
    (body,) = _notices()
    device_line = next(line for line in body.splitlines() if line.startswith("Device"))
    assert len(device_line) < 260
    assert "\r" not in body
    assert not any(line.startswith("Subject:") or line.startswith("Click") for line in body.splitlines())
    assert all(c.isprintable() for c in device_line)


def test_the_table_remembers_digests_not_addresses_or_agents(identity: dict[str, str]) -> None:  # noqa: F811
    register(EMAIL, password=PASSWORD)
    assert _login(EMAIL, "203.0.113.123", "Distinctive-Agent/9.9") == "created"
    assert _login(EMAIL, "203.0.113.124", "Distinctive-Agent/9.9") == "created"
    client = boto3.client("dynamodb")
    for name in client.list_tables()["TableNames"]:
        if "Audit" in name:
            continue  # the audit trail keeps the request's IP by design (R54)
        dump = json.dumps(client.scan(TableName=name)["Items"], default=repr)
        assert "203.0.113.12" not in dump, name
        assert "Distinctive-Agent" not in dump, name
