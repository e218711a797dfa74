"""RFC 9116 security.txt, whose `Expires` is a fixed date the team renews (docs/runbooks.md#securitytxt)."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard import settings

# RFC 9116 §2.5.5: a date after which the file's contents are stale, under a year ahead. It is fixed (never "now +
# N days", which would vouch for the file forever): a person renews it, after checking every field, at least once a
# year. tests/security/test_f19_security_txt_expires.py fails from 30 days before this date until it is renewed.
EXPIRES = datetime(2027, 11, 30, tzinfo=UTC)


def render() -> str:
    """The security.txt body (CRLF-free plain text, one field per line)."""
    config = settings.get()
    lines = [
        f"Contact: {config.security_contact}",
        f"Expires: {EXPIRES.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"Policy: {config.security_policy_url}",
        "Preferred-Languages: en",
        f"Canonical: {config.public_base_url.rstrip('/')}/.well-known/security.txt",
    ]
    return "\n".join(lines) + "\n"
