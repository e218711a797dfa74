"""security.txt follows RFC 9116 and never expires, however far the clock moves."""

import re
from datetime import datetime

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
    assert parsed["Policy"][0].startswith("https://")
    assert parsed["Preferred-Languages"] == ["en"]
    assert parsed["Canonical"][0].endswith("/.well-known/security.txt")


def test_security_txt_expires_in_the_future_and_within_a_year_even_after_a_year_passes() -> None:
    for _ in range(3):
        expires_text = fields(security_txt.render())["Expires"][0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expires_text)
        expires = datetime.fromisoformat(expires_text.replace("Z", "+00:00"))
        ahead = expires - clock.now()
        assert 0 < ahead.days <= 366
        clock.advance(400 * 86400)
