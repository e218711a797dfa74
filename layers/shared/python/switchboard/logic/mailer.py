"""mail_worker's work: platform e-mail under per-recipient limits (R49), and the signup and reset lookups (R8)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from switchboard import clock, mail
from switchboard.crypto import blind_index
from switchboard.dal import mail_limits
from switchboard.models.errors import RateLimited
from switchboard.observability import logger

# At most this many e-mails of a kind to one address per hour, whoever asks: the excess is dropped without a word
# (a reset or verification request answers 202 either way, so nothing tells an asker which addresses exist).
LIMITS: MappingProxyType[str, int] = MappingProxyType(
    # operator_access: break-glass grants and reads (R34), their own budget so they never crowd out other notices
    {"reset": 3, "verify": 3, "invitation": 5, "notice": 20, "account": 10, "api_key_created": 1, "operator_access": 60}
)
# Invitations are sent by an authenticated caller, who gets a visible 429 (members.invite): per account per hour,
# and per account and invited address per hour.
INVITATIONS_PER_ACCOUNT = 20
INVITATIONS_PER_ADDRESS = 3


def allow(email_index: str, kind: str) -> bool:
    """Count one e-mail of `kind` to this address (by blind index); False once over the hour's limit."""
    limit = LIMITS.get(kind, LIMITS["notice"])
    count = mail_limits.take(mail_limits.recipient_scope(email_index, kind), now=int(clock.timestamp()))
    if count > limit:
        logger.info("e-mail over its per-recipient limit dropped", extra={"kind": kind, "count": count})
        return False
    return True


def check_invitation(account_id: str, email_index: str) -> None:
    """Count one invitation of this account to this address: RateLimited (429) over either hourly limit."""
    now = int(clock.timestamp())
    retry = mail_limits.WINDOW_S - now % mail_limits.WINDOW_S
    if mail_limits.take(mail_limits.invitations_scope(account_id), now=now) > INVITATIONS_PER_ACCOUNT:
        raise RateLimited(
            f"At most {INVITATIONS_PER_ACCOUNT} invitations an hour per account.",
            retry_after_s=retry,
            code="invitation_limit",
        )
    if mail_limits.take(mail_limits.invitations_to_scope(account_id, email_index), now=now) > INVITATIONS_PER_ADDRESS:
        raise RateLimited(
            f"At most {INVITATIONS_PER_ADDRESS} invitations an hour to one address.",
            retry_after_s=retry,
            code="invitation_limit",
        )


def process(record: dict[str, Any], *, first_attempt: bool) -> None:
    """One Mail queue record; raising leaves it queued for a retry (then the DLQ).

    Limits are counted on the first attempt only: a retry after an SES failure is the same e-mail, not another.
    """
    from switchboard.logic import users  # noqa: PLC0415 - users enqueues through mail; no import cycle

    kind = record.get("type")
    with mail.sending_here():
        if kind == mail.EMAIL:
            email = mail.Email(
                to=record["to"], subject=record["subject"], body=record["body"], kind=record.get("kind", "notice")
            )
            if first_attempt and not allow(blind_index.email_index(email.to), email.kind):
                return
            mail.deliver(email)
        elif kind == users.SIGNUP_JOB:
            users.process_signup(record, first_attempt=first_attempt)
        elif kind == users.RESET_JOB:
            users.process_reset(record, first_attempt=first_attempt)
        else:
            # Not ours to retry: a record nobody can process would only cycle to the DLQ.
            logger.error("unknown mail record dropped", extra={"record_type": str(kind)})
