"""What logic needs of the audit trail, the event bus and the account directory, as Protocols: fakes in tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Unpack

if TYPE_CHECKING:
    from switchboard.dal.accounts import Account, EmailOwner, User
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
        self,
        account_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        message: Message | None = None,
        phone_index: str | None = None,
    ) -> int: ...


class Directory(Protocol):
    """Whom a credential belongs to (its account and user): `dal.accounts`, or a fake."""

    def get_account(self, account_id: str) -> Account | None: ...

    def get_user(self, account_id: str, user_id: str) -> User | None: ...


class AccountStore(Directory, Protocol):
    """The accounts repository as logic uses it for its users: `dal.accounts` (moto tests), or an in-memory fake.

    Updates take attribute → value (None removes) and never create a user; the conditional writes return False
    when another request got there first.
    """

    def find_by_email(self, email_index: str) -> EmailOwner | None: ...
    def update_user(self, user: User, **changes: Any) -> User: ...
    def prove_email(self, user: User, **changes: Any) -> bool: ...
    def add_failed_login(self, user: User) -> int: ...
    def require_reset_once(self, user: User) -> bool: ...
    def spend_totp_step(self, user: User, step: int) -> bool: ...
    def spend_recovery_code(self, user: User, index: int, phc: str) -> bool: ...
    def seal(self, user: User, field: str, value: str) -> str: ...
    def open_field(self, user: User, field: str) -> str: ...
