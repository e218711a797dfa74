"""Platform e-mail: requests enqueue on the Mail queue; mail_worker alone sends it through SES."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.models.errors import ProblemError
from switchboard.observability import logger

QUEUE_ENV = catalog.queue("Mail").env
EMAIL = "email"  # the queue record of one rendered e-mail; switchboard.logic.mailer knows the other kinds
RETRY_AFTER_S = 5

# Set while mail_worker runs a job: the e-mails a job renders are sent at once by the worker itself.
_in_worker: ContextVar[bool] = ContextVar("mail_in_worker", default=False)


class MailUnavailable(ProblemError):
    """503: the Mail queue refused the message; nothing was sent and retrying after `Retry-After` is safe."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The service is briefly unavailable; retry after the time in Retry-After.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


@dataclass(frozen=True)
class Email:
    """One plain-text e-mail; links carry single-use tokens as `?token=…`, never secrets in the subject.

    `kind` names the per-recipient limit it counts against (switchboard.logic.mailer.LIMITS).
    """

    to: str
    subject: str
    body: str
    kind: str = "notice"


def enqueue(record: dict[str, Any]) -> str:
    """Put one record on the Mail queue (SendMessage) and return its message id; MailUnavailable when SQS fails."""
    url = settings.get().queue(QUEUE_ENV)
    try:
        response = clients.client("sqs").send_message(
            QueueUrl=url, MessageBody=json.dumps(record, separators=(",", ":"))
        )
    except (ClientError, BotoCoreError) as error:
        logger.warning("mail queue refused a message", extra={"error_type": type(error).__name__})
        raise MailUnavailable from error
    message_id: str = response["MessageId"]
    return message_id


def send(email: Email) -> str:
    """Queue one e-mail for mail_worker (its SQS message id); inside the worker's own jobs, send it at once."""
    if _in_worker.get():
        return deliver(email)
    return enqueue({"type": EMAIL, **asdict(email)})


def deliver(email: Email) -> str:
    """Send through SES and return its message id: only mail_worker may (the one role with ses:SendEmail)."""
    current = settings.get()
    # Deployed, the configuration set publishes the bounce and complaint rates the SES alarms watch.
    named = current.mail_configuration_set
    configuration_set = {"ConfigurationSetName": named} if named else {}
    response = clients.client("ses").send_email(
        Source=current.mail_from,
        Destination={"ToAddresses": [email.to]},
        Message={"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": {"Text": {"Data": email.body}}},
        **configuration_set,
    )
    message_id: str = response["MessageId"]
    return message_id


@contextmanager
def sending_here() -> Iterator[None]:
    """mail_worker's jobs: `send` delivers through SES instead of queueing (the worker cannot send to its queue)."""
    token = _in_worker.set(True)
    try:
        yield
    finally:
        _in_worker.reset(token)


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
