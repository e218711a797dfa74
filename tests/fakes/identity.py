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
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import Account, EmailOwner, User
from switchboard.dal.api_keys import CAP_KIND, ApiKey
from switchboard.dal.members import Invitation, InviteLink
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

    def rehash(self, key: ApiKey, secret_hash: str, pepper_version: str) -> bool:
        stored = self.keys.get((key.account_id, key.key_id))
        if stored is None or stored.secret_hash != key.secret_hash:
            return False  # the dal's condition: only the hash that was read is replaced
        self._update(key, secret_hash=secret_hash, pepper_version=pepper_version)
        return True


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


class InMemoryMembers:
    """Members and invitations over an InMemoryDirectory's users, with dal.members' transactions: every write
    checks what it read (Refused with the first failing reason, in the dal's order) and changes all or nothing."""

    def __init__(self, directory: InMemoryDirectory) -> None:
        self.directory = directory
        self.invitations_by_key: dict[tuple[str, str], Invitation] = {}  # (account, e-mail index)
        self.links: dict[str, InviteLink] = {}
        self._slots = 0

    @staticmethod
    def _tag(invitation: Invitation, field: str) -> str:
        return f"sealed:{invitation.account_id}:invite:{invitation.email_index}:{field}:"

    def users(self, account_id: str) -> list[User]:
        return sorted(
            (u for (acct, _), u in self.directory.users.items() if acct == account_id), key=lambda u: u.user_id
        )

    def invitations(self, account_id: str) -> list[Invitation]:
        return [i for (acct, _), i in sorted(self.invitations_by_key.items()) if acct == account_id]

    def get_invitation(self, account_id: str, email_index: str) -> Invitation | None:
        return self.invitations_by_key.get((account_id, email_index))

    def get_invite_token(self, digest: str) -> InviteLink | None:
        return self.links.get(digest)

    def new_invitation(self, account_id: str, email_index: str, *, email: str, **attributes: Any) -> Invitation:
        invitation = Invitation(account_id=account_id, email_index=email_index, email_sealed="", **attributes)
        return dataclasses.replace(invitation, email_sealed=self._tag(invitation, "email") + email)

    def open_field(self, invitation: Invitation, field: str) -> str:
        value = {"email": invitation.email_sealed}[field]
        if not value.startswith(self._tag(invitation, field)):
            raise SealedElsewhere(field)
        return value.removeprefix(self._tag(invitation, field))

    def put_invitation(self, invitation: Invitation, *, previous: Invitation | None, cap: int) -> Invitation:
        at = (invitation.account_id, invitation.email_index)
        current = self.invitations_by_key.get(at)
        if (current is None) != (previous is None) or (
            current is not None and previous is not None and current.token_digest != previous.token_digest
        ):
            raise members_dal.Refused("stale")
        now = clock.timestamp()
        if previous is not None and previous.expires_at > now and previous.cap_slot:
            slot = previous.cap_slot
        else:
            held = [i for i in self.invitations(invitation.account_id) if i.cap_slot and i.expires_at > now]
            if len(held) >= cap:
                raise caps_dal.CapReached(members_dal.CAP_KIND, cap)
            self._slots += 1
            slot = f"slot{self._slots}"
        if previous is not None and previous.token_digest != invitation.token_digest:
            self.links.pop(previous.token_digest, None)
        stored = dataclasses.replace(invitation, cap_slot=slot)
        self.invitations_by_key[at] = stored
        self.links[stored.token_digest] = InviteLink(
            stored.token_digest, stored.account_id, stored.email_index, stored.expires_at
        )
        return stored

    def delete_invitation(self, item: Invitation) -> None:
        self.invitations_by_key.pop((item.account_id, item.email_index), None)
        self.links.pop(item.token_digest, None)

    def revoke_invitation(self, item: Invitation, *, reason: str) -> None:
        self.invitations_by_key.pop((item.account_id, item.email_index), None)
        if item.token_digest in self.links:
            self.links[item.token_digest] = dataclasses.replace(self.links[item.token_digest], revoked=reason)

    def delete_invite_token(self, digest: str) -> None:
        self.links.pop(digest, None)

    def join(self, user: User, invitation: Invitation, *, inviter: User | None = None) -> None:
        if inviter is not None:
            now = self.directory.get_user(inviter.account_id, inviter.user_id)
            if now is None or (now.role, now.reset_required) != (inviter.role, inviter.reset_required):
                raise members_dal.Refused("inviter_changed")
        current = self.get_invitation(invitation.account_id, invitation.email_index)
        if current is None or current.token_digest != invitation.token_digest:
            raise members_dal.Refused("stale")
        if invitation.token_digest not in self.links:
            raise members_dal.Refused("stale")
        if user.email_index in self.directory.emails:
            raise members_dal.Refused("email_taken")
        if (user.account_id, user.user_id) in self.directory.users:
            raise members_dal.Refused("gone")
        self.directory.users[(user.account_id, user.user_id)] = user
        self.directory.emails[user.email_index] = EmailOwner(user.account_id, user.user_id)
        self.delete_invitation(invitation)

    def _check(self, user: User, other_owner: User | None) -> None:
        """The transaction's conditions: the other owner still an owner, then the member as read."""
        if other_owner is not None:
            other = self.directory.get_user(other_owner.account_id, other_owner.user_id)
            if other is None or other.role != "owner":
                raise members_dal.Refused("last_owner")
        stored = self.directory.get_user(user.account_id, user.user_id)
        if stored is None or stored.role != user.role:
            raise members_dal.Refused("stale")

    def change_role(self, user: User, role: str, *, other_owner: User | None) -> None:
        self._check(user, other_owner)
        self.directory.set_user(user.account_id, user.user_id, role=role)

    def remove(self, user: User, *, other_owner: User | None) -> None:
        self._check(user, other_owner)
        del self.directory.users[(user.account_id, user.user_id)]
        self.directory.emails.pop(user.email_index, None)


class RecordingEvents:
    """The webhook event bus as a list of (account, type, data)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(
        self,
        account_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        phone_index: str | None = None,
    ) -> int:
        self.published.append((account_id, event_type, dict(data)))
        return 1
