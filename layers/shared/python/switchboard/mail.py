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
