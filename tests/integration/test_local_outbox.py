"""`GET /_local/outbox` reads what SES received: newest first, with the link's single-use token."""

from __future__ import annotations

import boto3

from local import routes
from switchboard import mail
from tests.integration import mailbox


def test_outbox_lists_sent_mail_newest_first_with_the_token(aws: dict[str, str]) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@switchboard.example")
    mail.send(mail.Email(to="a@example.com", subject="Welcome", body="Hello."))
    link = "http://127.0.0.1:8080/verify?token=tok_abc-123.x&lang=en"
    mail.send(mail.Email(to="b@example.com", subject="Verify your e-mail", body=f"Open {link} within 24 hours."))
    mailbox.drain()
    assert routes.outbox() == [
        {
            "to": "b@example.com",
            "subject": "Verify your e-mail",
            "body": f"Open {link} within 24 hours.",
            "token": "tok_abc-123.x",
        },
        {"to": "a@example.com", "subject": "Welcome", "body": "Hello."},
    ]
