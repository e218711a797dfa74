"""security.txt follows RFC 9116: the required fields once each, and an `Expires` the platform clock cannot move."""

import re

from switchboard import clock
from switchboard.logic import security_txt


def fields(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        found.setdefault(name, []).append(value)
    return found


def test_security_txt_has_the_required_fields_once() -> None:
    parsed = fields(security_txt.render())
    assert parsed["Contact"][0].startswith(("mailto:", "https://"))
    assert len(parsed["Expires"]) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", parsed["Expires"][0])
    assert parsed["Policy"][0].startswith("https://")
    assert parsed["Preferred-Languages"] == ["en"]
    assert parsed["Canonical"][0].endswith("/.well-known/security.txt")


def test_security_txt_expires_is_the_fixed_date_whatever_the_clock() -> None:
    first = security_txt.render()
    for _ in range(3):
        clock.advance(400 * 86400)
        assert security_txt.render() == first
    assert fields(first)["Expires"] == [security_txt.EXPIRES.strftime("%Y-%m-%dT%H:%M:%SZ")]
