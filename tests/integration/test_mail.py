"""E-mail is queued by the request path and goes out through SES from the configured sender, sent by mail_worker."""

import json

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from switchboard import mail
from tests.integration import mailbox


def test_send_queues_and_mail_worker_delivers_through_ses(aws: dict[str, str]) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@switchboard.example")
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
    message_id = mail.send(mail.Email(to="jane@example.com", subject="Verify", body="https://x/verify?token=abc"))
    assert backend.sent_messages == []  # nothing leaves before the worker runs
    [queued] = boto3.client("sqs").receive_message(QueueUrl=mailbox.url(), VisibilityTimeout=0)["Messages"]
    assert queued["MessageId"] == message_id
    assert json.loads(queued["Body"])["to"] == "jane@example.com"
    assert mailbox.drain() == 1
    [sent] = backend.sent_messages
    assert sent.destinations["ToAddresses"] == ["jane@example.com"]
    assert sent.subject == "Verify"
    assert "token=abc" in sent.body
    assert sent.source == "Switchboard <no-reply@switchboard.example>"
