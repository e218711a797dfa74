"""In-memory identity repositories (sessions, recipients and their consent ledger), audit trail, event bus and
account directory: what logic.sessions and logic.consent receive as Protocols.

tests/integration/test_*_store_contract.py run the same scenarios on these fakes and on the dal modules under
moto, so a logic test on a fake proves what it would prove on DynamoDB.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from switchboard import clock
from switchboard.auth import Principal
from switchboard.dal import caps as caps_dal
from switchboard.dal.accounts import Account, EmailOwner, User
from switchboard.dal.api_keys import CAP_KIND, ApiKey
from switchboard.dal.recipients import ConsentRecord, Recipient
from switchboard.dal.sessions import Session
from switchboard.logic import audit
from switchboard.models.audit import AuditEvent


def session_principal(
    account_id: str,
    user_id: str,
    *,
    role: str = "owner",
    session_id: str = "ses_1",
    plan: str = "free",
    auth_at: int = 0,
) -> Principal:
    """A signed-in user as the authorizer passes them on (a session credential, live mode)."""
    fields = {"account_id": account_id, "principal": user_id, "role": role, "session_id": session_id, "plan": plan}
    return Principal(**fields, credential="session", key_id="", mode="live", auth_at=auth_at)


class SealedElsewhere(Exception):
    """A sealed value opened with another item's (or field's) associated data."""


class InMemoryRecipients:
    """Recipients and their ledgers kept in dicts, with the dal's preconditions (one transaction per entry).

    Sealing is a reversible tag that still binds a value to its item and field, so a value opened with the wrong
    associated data fails here as it fails under AES-GCM.
    """

    def __init__(self) -> None:
        self.recipients: dict[tuple[str, str], Recipient] = {}
        self.entries: dict[tuple[str, str], list[ConsentRecord]] = {}  # (account, recipient) → oldest first
        self.tombstones: dict[tuple[str, str], set[str]] = {}

    # what tests arrange
    def add(self, account_id: str, recipient_id: str, *, phone_index: str = "idx", **fields: Any) -> Recipient:
        """A stored recipient (no consent yet)."""
        recipient = Recipient(account_id=account_id, recipient_id=recipient_id, phone_index=phone_index, **fields)
        self.recipients[(account_id, recipient_id)] = recipient
        return recipient

    @staticmethod
    def _tag(account_id: str, entry: ConsentRecord, field: str) -> str:
        return f"sealed:{account_id}:{entry.recipient_id}:{entry.entry_id}:{field}:"

    # ConsentStore
    def get(self, account_id: str, recipient_id: str) -> Recipient | None:
        recipient = self.recipients.get((account_id, recipient_id))
        return None if recipient is None or recipient.erasing else recipient

    def latest_consent(
        self, account_id: str, recipient_id: str, channel: str, *, status: str | None = None
    ) -> ConsentRecord | None:
        for entry in reversed(self.entries.get((account_id, recipient_id), [])):
            if entry.channel == channel and (status is None or entry.status == status):
                return entry
        return None

    def set_consent(
        self,
        account_id: str,
        entry: ConsentRecord,
        *,
        evidence_json: str | None = None,
        expected_last: str | bool | None = True,
    ) -> ConsentRecord | None:
        recipient = self.recipients.get((account_id, entry.recipient_id))
        if recipient is None or recipient.erasing:
            return None
        last = recipient.consent_last.get(entry.channel)
        if (expected_last is None and last is not None) or (isinstance(expected_last, str) and last != expected_last):
            return None
        if evidence_json is not None:
            entry = dataclasses.replace(
                entry, evidence_sealed=self._tag(account_id, entry, "evidence_sealed") + evidence_json
            )
        self.entries.setdefault((account_id, entry.recipient_id), []).append(entry)
        self.recipients[(account_id, recipient.recipient_id)] = dataclasses.replace(
            recipient,
            consent={**recipient.consent, entry.channel: entry.status},
            consent_last={**recipient.consent_last, entry.channel: entry.entry_id},
        )
        return entry

    def open_field(self, account_id: str, item: ConsentRecord, field: str) -> str:
        tag = self._tag(account_id, item, field)
        value = {"evidence_sealed": item.evidence_sealed}[field]
        if value is None or not value.startswith(tag):
            raise SealedElsewhere(field)
        return value.removeprefix(tag)

    def remove_tombstone_channel(self, account_id: str, phone_index: str, channel: str) -> None:
        self.tombstones.get((account_id, phone_index), set()).discard(channel)

    def ledger(
        self, account_id: str, recipient_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ConsentRecord], str | None]:
        entries = self.entries.get((account_id, recipient_id), [])
        start = int(cursor) if cursor else 0
        more = start + limit < len(entries)
        return entries[start : start + limit], str(start + limit) if more else None


class RecordingAudit:
    """The audit trail as a list: every event logic records, in order."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, **fields: Any) -> AuditEvent:
        event = audit.new_event(**fields)
        self.events.append(event)
        return event

    def record_denied(self, **fields: Any) -> AuditEvent | None:  # never capped here: logic.audit's cap has its tests
        return self.record(outcome="denied", **fields)


class InMemorySessions:
    """Sessions by token digest, with the dal's rules: updates never bring back a deleted session, and the IP and
    user agent are sealed to their session and field (a value opened on another session fails, as under AES-GCM)."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    @staticmethod
    def _tag(session: Session, field: str) -> str:
        return f"sealed:{session.account_id}:{session.token_digest}:{field}:"

    def put_session(self, session: Session, *, ip: str | None = None, user_agent: str | None = None) -> Session:
        if session.token_digest in self.sessions:
            raise ValueError("a session with this token digest exists")  # the dal's condition: never overwritten
        stored = dataclasses.replace(
            session,
            ip_sealed=None if ip is None else self._tag(session, "ip") + ip,
            user_agent_sealed=None if user_agent is None else self._tag(session, "user_agent") + user_agent,
        )
        self.sessions[session.token_digest] = stored
        return stored

    def get_session(self, digest: str) -> Session | None:
        return self.sessions.get(digest)

    def user_sessions(self, account_id: str, user_id: str) -> list[Session]:
        mine = [s for s in self.sessions.values() if (s.account_id, s.user_id) == (account_id, user_id)]
        return sorted(mine, key=lambda s: s.session_id)

    def _update(self, session: Session, **changes: Any) -> None:
        if session.token_digest in self.sessions:
            self.sessions[session.token_digest] = dataclasses.replace(self.sessions[session.token_digest], **changes)

    def touch(self, session: Session, now: int) -> None:
        self._update(session, last_seen_at=now)

    def set_auth_at(self, session: Session, now: int) -> None:
        if session.token_digest not in self.sessions:
            raise KeyError(session.session_id)  # the dal's condition: a re-authentication needs its session
        self._update(session, auth_at=now, last_seen_at=now)

    def delete_session(self, session: Session) -> None:
        self.sessions.pop(session.token_digest, None)

    def open_field(self, session: Session, field: str) -> str:
        value = session.ip_sealed if field == "ip" else session.user_agent_sealed if field == "user_agent" else None
        if not value:
            return ""
        if not value.startswith(self._tag(session, field)):
            raise SealedElsewhere(field)
        return value.removeprefix(self._tag(session, field))


class InMemoryApiKeys:
    """API keys by (account, key id), with the dal's rules: a key holds one of the account's `cap` slots until it
    expires (a shortened life frees it sooner), a revoked key is gone from `find` at once, updates never bring a
    deleted key back."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], ApiKey] = {}
        self._slots = 0

    def put(self, key: ApiKey, *, cap: int) -> ApiKey:
        now = clock.timestamp()
        if (key.account_id, key.key_id) in self.keys:
            raise ValueError("a key with this id exists")  # the dal's condition: never overwritten
        if sum(1 for k in self.list_keys(key.account_id) if k.expires_at > now) >= cap:
            raise caps_dal.CapReached(CAP_KIND, cap)
        self._slots += 1
        stored = dataclasses.replace(key, cap_slot=f"slot{self._slots}")
        self.keys[(key.account_id, key.key_id)] = stored
        return stored

    def get(self, account_id: str, key_id: str) -> ApiKey | None:
        return self.keys.get((account_id, key_id))

    def find(self, key_id: str) -> ApiKey | None:
        return next((k for (_, kid), k in self.keys.items() if kid == key_id), None)

    def list_keys(self, account_id: str) -> list[ApiKey]:
        return sorted((k for (acct, _), k in self.keys.items() if acct == account_id), key=lambda k: k.key_id)

    def delete(self, key: ApiKey) -> None:
        self.keys.pop((key.account_id, key.key_id), None)

    def _update(self, key: ApiKey, **changes: Any) -> None:
        at = (key.account_id, key.key_id)
        if at in self.keys:
            self.keys[at] = dataclasses.replace(self.keys[at], **changes)

    def shorten(self, key: ApiKey, until: int) -> None:
        if until < key.expires_at:
            self._update(key, expires_at=until)

    def touch(self, key: ApiKey, now: int) -> None:
        self._update(key, last_used_at=now)


class InMemoryDirectory:
    """Accounts and users as the accounts repository keeps them (the AccountStore Protocol): updates never create a
    user, the conditional writes (one reset flag, strictly later TOTP steps, a recovery code spent once, one proof
    of an address) hold as under DynamoDB, and sealed fields open only on their own user and field."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.users: dict[tuple[str, str], User] = {}
        self.emails: dict[str, EmailOwner] = {}

    @staticmethod
    def _tag(user: User, field: str) -> str:
        return f"sealed:{user.account_id}:{user.user_id}:{field}:"

    # what tests arrange
    def add_account(
        self, account_id: str, *, status: str = "active", plan: str = "free", name: str = "Acme"
    ) -> Account:
        account = Account(account_id=account_id, name=name, status=status, plan=plan)
        self.accounts[account_id] = account
        return account

    def add_user(
        self,
        account_id: str,
        user_id: str,
        *,
        role: str = "owner",
        email_verified: bool = True,
        email: str | None = None,
        **fields: Any,
    ) -> User:
        """A stored user; their e-mail (`<user id>@example.com` unless given) sealed and found by its index."""
        email = email or f"{user_id}@example.com"
        user = User(
            account_id=account_id,
            user_id=user_id,
            email_sealed="",
            email_index=f"idx:{email}",
            role=role,
            password_phc="phc1",
            pepper_version="v1",
            created_at=0,
            password_changed_at=0,
            email_verified=email_verified,
            **fields,
        )
        user = dataclasses.replace(user, email_sealed=self.seal(user, "email", email))
        self.users[(account_id, user_id)] = user
        self.emails[user.email_index] = EmailOwner(account_id=account_id, user_id=user_id)
        return user

    def set_account(self, account_id: str, **changes: Any) -> Account:
        """The stored account changed (as another request would change it)."""
        self.accounts[account_id] = dataclasses.replace(self.accounts[account_id], **changes)
        return self.accounts[account_id]

    def set_user(self, account_id: str, user_id: str, **changes: Any) -> User:
        """The stored user changed (as another request would change it)."""
        self.users[(account_id, user_id)] = dataclasses.replace(self.users[(account_id, user_id)], **changes)
        return self.users[(account_id, user_id)]

    # Directory
    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def get_user(self, account_id: str, user_id: str) -> User | None:
        return self.users.get((account_id, user_id))

    # AccountStore
    def find_by_email(self, email_index: str) -> EmailOwner | None:
        return self.emails.get(email_index)

    def _stored(self, user: User) -> User:
        stored = self.users.get((user.account_id, user.user_id))
        if stored is None:
            raise KeyError(user.user_id)  # the dal's condition: an update never creates a user
        return stored

    def update_user(self, user: User, **changes: Any) -> User:
        stored = self._stored(user)
        defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(User)}
        values = {name: defaults[name] if value is None else value for name, value in changes.items()}
        self.users[(user.account_id, user.user_id)] = dataclasses.replace(stored, **values)
        return dataclasses.replace(user, **values)

    def prove_email(self, user: User, **changes: Any) -> bool:
        stored = self.users.get((user.account_id, user.user_id))
        if stored is None or stored.email_verified:
            return False
        self.update_user(user, **changes)
        return True

    def add_failed_login(self, user: User) -> int:
        failures = self._stored(user).failed_logins + 1
        self.update_user(user, failed_logins=failures)
        return failures

    def require_reset_once(self, user: User) -> bool:
        stored = self.users.get((user.account_id, user.user_id))
        if stored is None or stored.reset_required:
            return False
        self.update_user(user, reset_required=True)
        return True

    def spend_totp_step(self, user: User, step: int) -> bool:
        last = self._stored(user).totp_last_step
        if last is not None and last >= step:
            return False
        self.update_user(user, totp_last_step=step)
        return True

    def spend_recovery_code(self, user: User, index: int, phc: str) -> bool:
        stored = self.users.get((user.account_id, user.user_id))
        codes = stored.recovery_codes if stored is not None else ()
        if index >= len(codes) or codes[index] != phc:
            return False
        self.update_user(user, recovery_codes=codes[:index] + codes[index + 1 :])
        return True

    def seal(self, user: User, field: str, value: str) -> str:
        return self._tag(user, field) + value

    def open_field(self, user: User, field: str) -> str:
        value = {"email": user.email_sealed, "totp_seed": user.totp_seed, "totp_pending": user.totp_pending}[field]
        if not (value or "").startswith(self._tag(user, field)):
            raise SealedElsewhere(field)
        return (value or "").removeprefix(self._tag(user, field))


class RecordingEvents:
    """The webhook event bus as a list of (account, type, data)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(
        self, account_id: str, event_type: str, data: dict[str, Any], *, message: dict[str, Any] | None = None
    ) -> int:
        self.published.append((account_id, event_type, dict(data)))
        return 1
