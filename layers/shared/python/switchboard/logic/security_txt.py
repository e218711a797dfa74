"""RFC 9116 security.txt, with an `Expires` that is always in the future and under a year away."""

from __future__ import annotations

from datetime import timedelta

from switchboard import clock, settings

VALIDITY = timedelta(days=180)


def render() -> str:
    """The security.txt body (CRLF-free plain text, one field per line)."""
    config = settings.get()
    expires = (clock.now() + VALIDITY).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = [
        f"Contact: {config.security_contact}",
        f"Expires: {clock.rfc3339(expires)}",
        f"Policy: {config.security_policy_url}",
        "Preferred-Languages: en",
        f"Canonical: {config.public_base_url.rstrip('/')}/.well-known/security.txt",
    ]
    return "\n".join(lines) + "\n"
