"""E-mail goes out through SES from the configured sender."""

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from switchboard import mail


def test_send_delivers_through_ses(aws: dict[str, str]) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@switchboard.example")
    message_id = mail.send(mail.Email(to="jane@example.com", subject="Verify", body="https://x/verify?token=abc"))
    [sent] = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    assert sent.id == message_id
    assert sent.destinations["ToAddresses"] == ["jane@example.com"]
    assert sent.subject == "Verify"
    assert "token=abc" in sent.body
