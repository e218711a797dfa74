"""What logic needs of the audit trail, the event bus and the account directory, as Protocols: fakes in tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Unpack

if TYPE_CHECKING:
    from switchboard.dal.accounts import AccountItem, UserItem
    from switchboard.dal.messages import Message
    from switchboard.logic.audit import EventFields
    from switchboard.models.audit import AuditEvent, Scalar
    from switchboard.models.request import RequestMeta


class AuditLog(Protocol):
    """Where decisions are recorded: `logic.audit`, or a fake that keeps the events."""

    def record(self, **fields: Unpack[EventFields]) -> AuditEvent: ...

    def record_denied(
        self,
        *,
        account_id: str,
        type: str,
        actor: str,
        meta: RequestMeta | None = None,
        target: dict[str, str] | None = None,
        data: dict[str, Scalar] | None = None,
    ) -> AuditEvent | None: ...


class Events(Protocol):
    """Where webhook events go: `logic.webhook_events`, or a fake that keeps them."""

    def publish(
        self, account_id: str, event_type: str, data: dict[str, Any], *, message: Message | None = None
    ) -> int: ...


class Directory(Protocol):
    """Whom a credential belongs to (its account and user): `dal.accounts`, or a fake."""

    def get_account(self, account_id: str) -> AccountItem | None: ...

    def get_user(self, account_id: str, user_id: str) -> UserItem | None: ...
