"""Transactional e-mail through SES (the local stack's outbox reads what moto's SES received)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard import settings
from switchboard.dal import clients


@dataclass(frozen=True)
class Email:
    """One plain-text e-mail; links carry single-use tokens as `?token=…`, never secrets in the subject."""

    to: str
    subject: str
    body: str


def send(email: Email) -> str:
    """Send through SES and return its message id."""
    response = clients.client("ses").send_email(
        Source=settings.get().mail_from,
        Destination={"ToAddresses": [email.to]},
        Message={"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": {"Text": {"Data": email.body}}},
    )
    message_id: str = response["MessageId"]
    return message_id


def _one_line(text: str, limit: int = 200) -> str:
    # Client-chosen text (a user agent) in an e-mail: printable, one line, bounded, so it cannot shape the message.
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[:limit] or "unknown"


def send_new_login_notice(to: str, *, ip: str, device: str, at: str) -> str:
    """The R11 notice of a login from a device or IP address not seen before on this account (no secret in it)."""
    return send(
        Email(
            to=to,
            subject="Switchboard: new login to your account",
            body=(
                f"Your Switchboard account was logged into from a device or network not seen before.\n"
                f"When: {at}\nIP address: {_one_line(ip, 64)}\nDevice (browser or client): {_one_line(device)!r}\n"
                "If this was you, there is nothing to do. If not, reset your password now and review your sessions "
                "and API keys."
            ),
        )
    )
