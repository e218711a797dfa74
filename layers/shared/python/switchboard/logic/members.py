"""Members (R31, R33, R24): invite, accept, list, change role, remove; owners and admins manage, never with a key."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, Protocol

from switchboard import clock, ids, mail, settings
from switchboard.auth import Principal
from switchboard.crypto import blind_index, passwords, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import User
from switchboard.dal.members import Invitation, InviteLink
from switchboard.logic import api_keys, audit, caps, email_lookup, mailer, notices, sessions
from switchboard.models import paging
from switchboard.models.account import AcceptIn, InvitationOut, InviteIn, JoinedOut, MemberList, MemberOut
from switchboard.models.errors import BadRequest, Conflict, Forbidden, NotFound, ProblemError
from switchboard.models.permissions import Permission, Role, allows, may_grant
from switchboard.models.request import RequestMeta

if TYPE_CHECKING:
    from switchboard.logic.ports import AccountStore

INVITE_TTL_S = 7 * 24 * 60 * 60
INVITATION_PREFIX = "inv_"


class MemberStore(Protocol):
    """The members repository as logic uses it: `dal.members` (moto tests), or an in-memory fake.

    The writes are single transactions whose conditions raise `dal.members.Refused` with the reason that failed
    (stale, last_owner, email_taken, inviter_changed); a new invitation takes one of the account's `cap` slots.
    """

    def users(self, account_id: str) -> list[User]: ...
    def invitations(self, account_id: str) -> list[Invitation]: ...
    def get_invitation(self, account_id: str, email_index: str) -> Invitation | None: ...
    def get_invite_token(self, digest: str) -> InviteLink | None: ...
    def new_invitation(self, account_id: str, email_index: str, *, email: str, **attributes: Any) -> Invitation: ...
    def put_invitation(self, invitation: Invitation, *, previous: Invitation | None, cap: int) -> Invitation: ...
    def delete_invitation(self, item: Invitation) -> None: ...
    def revoke_invitation(self, item: Invitation, *, reason: str) -> None: ...
    def delete_invite_token(self, digest: str) -> None: ...
    def join(self, user: User, invitation: Invitation, *, inviter: User | None = None) -> None: ...
    def change_role(self, user: User, role: str, *, other_owner: User | None) -> None: ...
    def remove(self, user: User, *, other_owner: User | None) -> None: ...
    def open_field(self, invitation: Invitation, field: str) -> str: ...


class Stores(NamedTuple):
    """The repositories member logic works on: dal.members and dal.accounts, or fakes in tests."""

    members: MemberStore = members_dal
    accounts: AccountStore = accounts_dal


def _email_in_use() -> Conflict:
    return Conflict(
        "This address already belongs to a Switchboard user, and a user belongs to one account. Ask the "
        "inviter to invite another address, or remove yourself from your current account first.",
        code="email_in_use",
    )


class InvitationInvalid(BadRequest):
    """An invitation link that is unknown, replaced, cancelled, used or expired: one answer for all."""

    code = "token_invalid"

    def __init__(self) -> None:
        super().__init__("This invitation is invalid, was replaced, already used or has expired.")


class InvitationRevoked(ProblemError):
    """410: the inviter can no longer invite (removed, demoted, locked out, or the account is not active)."""

    status = 410
    code = "invitation_revoked"
    title = "Gone"

    def __init__(self) -> None:
        super().__init__(
            "This invitation was revoked: the person who sent it can no longer invite members. Ask an owner or "
            "admin of the account for a new invitation."
        )


def _may_invite(inviter: User | None, role: str) -> bool:
    """Whether `inviter` could send an invitation for `role` right now (R31): a member who manages members and may
    grant that role, whose credentials are not suspended (a lockout requiring a reset)."""
    return (
        inviter is not None
        and allows(inviter.role, Permission.MEMBERS_MANAGE)
        and may_grant(inviter.role, role)
        and not inviter.reset_required
    )


def _revoke(
    invitation: Invitation,
    *,
    reason: str,
    actor: str,
    meta: RequestMeta | None,
    answered: bool = False,
    store: MemberStore = members_dal,
) -> None:
    # Revoked before anyone used the link: it stays to answer 410 once; revoked while answering: gone for good.
    if answered:
        store.delete_invitation(invitation)
    else:
        store.revoke_invitation(invitation, reason=reason)
    audit.record(
        account_id=invitation.account_id,
        type="member.invitation_revoked",
        outcome="success",
        actor=actor,
        meta=meta,
        target={"invitation_id": invitation.invitation_id},
        data={"role": invitation.role, "invited_by": invitation.invited_by, "reason": reason},
    )


def revoke_invitations_of(
    user: User, *, new_role: str | None, actor: str, meta: RequestMeta, store: MemberStore = members_dal
) -> int:
    """Revoke the pending invitations `user` sent that they could no longer send (removed: `new_role` None)."""
    revoked = 0
    for invitation in store.invitations(user.account_id):
        if invitation.invited_by != user.user_id:
            continue
        still = (
            new_role is not None
            and allows(new_role, Permission.MEMBERS_MANAGE)
            and may_grant(new_role, invitation.role)
        )
        if not still:
            reason = "inviter_removed" if new_role is None else "inviter_demoted"
            _revoke(invitation, reason=reason, actor=actor, meta=meta, store=store)
            revoked += 1
    return revoked


def _may_act_on(principal: Principal, role: str) -> None:
    if not may_grant(principal.role, role):
        raise Forbidden(
            "Admins cannot invite, change or remove owners, nor grant the owner role.", code="role_too_high"
        )


def _invitation_email(item: Invitation, store: MemberStore = members_dal) -> str:
    return store.open_field(item, "email")


def _send(to: str, subject: str, body: str) -> None:
    mail.send(mail.Email(to=to, subject=f"Switchboard: {subject}", body=body, kind="invitation"))


_NAME_PUNCTUATION = frozenset(" -_&',()!?#+")
NAME_IN_MAIL_MAX = 64


def inert_name(name: str) -> str:
    """An account name as an invitation may show it: the tenant's text, so one line, quoted, and nothing a mail
    client could make a link of (no scheme, host, address or path: `.` shows as `[.]`, other punctuation goes)."""
    text = " ".join(unicodedata.normalize("NFKC", name).split())[:NAME_IN_MAIL_MAX]
    kept = "".join(
        "[.]" if c == "." else c
        for c in text
        if c == "." or c in _NAME_PUNCTUATION or unicodedata.category(c)[0] in "LNM"
    )
    return f'"{" ".join(kept.split())}"'


def _account_name(account_id: str) -> str:
    account = accounts_dal.get_account(account_id)
    return inert_name(account.name if account else "")


def invite(principal: Principal, body: InviteIn, meta: RequestMeta) -> InvitationOut:
    """POST /v1/members: a 7-day single-use link by e-mail; the role is what the inviter may grant.

    An address that already belongs to a user of ANOTHER account is invited like any other: answering differently
    would tell the inviter that the address has a Switchboard account. Acceptance refuses it (one user belongs to
    one account), and only the address's owner, who holds the link, learns why. A member of this account is a
    409: the inviter can list members anyway.
    """
    _may_act_on(principal, body.role)
    email = blind_index.normalize_email(body.email)
    index = blind_index.email_index(email)
    lookup = email_lookup.owner(email)  # a member indexed before a key rotation is still a member
    if lookup is not None and lookup.account_id == principal.account_id:
        raise Conflict("This address is already a member of this account.", code="member_exists")
    mailer.check_invitation(principal.account_id, index)  # 429 over the account's hourly invitation limits
    previous = members_dal.get_invitation(principal.account_id, index)
    now = int(clock.timestamp())
    token = tokens.new_token()
    item = members_dal.new_invitation(
        principal.account_id,
        index,
        email=email,
        invitation_id=ids.new_id("inv"),
        role=body.role.value,
        invited_by=principal.principal,
        created_at=now,
        token_digest=tokens.digest(token),
        expires_at=now + INVITE_TTL_S,
    )
    try:
        with caps.capped(caps.INVITATIONS):
            members_dal.put_invitation(item, previous=previous, cap=caps.LIMITS[caps.INVITATIONS])
    except members_dal.Refused as refused:
        raise Conflict(
            "Another invitation to this address was sent meanwhile; try again.", code="invitation_changed"
        ) from refused
    audit.success(
        principal, "member.invited", meta, target={"invitation_id": item.invitation_id}, data={"role": item.role}
    )
    console, api = settings.get().console_base_url.rstrip("/"), settings.get().public_base_url.rstrip("/")
    # The subject carries no tenant text at all; the body shows the account name inert (inert_name).
    _send(
        email,
        "you are invited to join an account",
        f"You were invited to join the Switchboard account named {_account_name(principal.account_id)} as "
        f"{item.role}. Choose your password within 7 days: {console}/accept-invitation?token={token}\n"
        f'(API: POST {api}/v1/invitations/accept with {{"token": "{token}", "password": "..."}})\n'
        "If you did not expect this, ignore this message.",
    )
    return InvitationOut(
        invitation_id=item.invitation_id,
        email=email,
        role=item.role,
        status="invited",
        created_at=clock.rfc3339_at(now),
        expires_at=clock.rfc3339_at(int(item.expires_at)),
    )


def accept(body: AcceptIn, meta: RequestMeta, stores: Stores | None = None) -> JoinedOut:
    """POST /v1/invitations/accept: the invitee's password (R1, R2) and a new user with the invited role.

    The link proves control of the address, so the e-mail counts as verified.
    """
    store, accounts = stores or Stores()
    digest = tokens.digest(body.token)
    link = store.get_invite_token(digest)
    now = int(clock.timestamp())
    if link is None or int(link.expires_at) <= now:
        raise InvitationInvalid
    if link.revoked:
        store.delete_invite_token(digest)
        raise InvitationRevoked
    invitation = store.get_invitation(link.account_id, link.email_index)
    if invitation is None or not tokens.same(invitation.token_digest, digest) or int(invitation.expires_at) <= now:
        raise InvitationInvalid
    account = accounts.get_account(invitation.account_id)
    if account is None:
        raise InvitationInvalid
    # The invitation speaks for its inviter: it holds only while they could still send it (R31, R22).
    inviter = accounts.get_user(invitation.account_id, invitation.invited_by)
    if account.status != "active" or not _may_invite(inviter, invitation.role):
        _refuse_for_inviter(invitation, inviter, account_active=account.status == "active", meta=meta, store=store)
    email = _invitation_email(invitation, store)
    passwords.check_policy(body.password, context=(account.name, email, email.split("@", 1)[0]))
    stored = passwords.hash_password(body.password)
    user_id = ids.new_id("usr")
    # The user's lookup is written under the current key version, whatever version the invitation was keyed by.
    version = blind_index.current_version()
    user = accounts_dal.new_user(
        invitation.account_id,
        user_id,
        email=email,
        email_index=blind_index.email_index(email, version),
        email_index_version=version,
        role=invitation.role,
        password_phc=stored.phc,
        pepper_version=stored.pepper_version,
        email_verified=True,
        created_at=now,
        password_changed_at=now,
    )
    # join claims the current version's lookup; one stored under an older key version is checked here.
    if any(accounts.find_by_email(index) for _, index in blind_index.email_indexes(email)[1:]):
        raise _email_in_use()
    try:
        store.join(user, invitation, inviter=inviter)
    except members_dal.Refused as refused:
        if refused.reason == "inviter_changed":
            # Demoted or removed while this request ran: decide again on what is stored now.
            fresh = accounts.get_user(invitation.account_id, invitation.invited_by)
            if not _may_invite(fresh, invitation.role):
                _refuse_for_inviter(invitation, fresh, account_active=True, meta=meta, store=store)
            raise Conflict("The invitation changed meanwhile; try again.", code="invitation_changed") from refused
        if refused.reason == "email_taken":
            raise _email_in_use() from refused
        raise InvitationInvalid from refused
    audit.record(
        account_id=user.account_id,
        type="member.joined",
        outcome="success",
        actor=user_id,
        meta=meta,
        target={"user_id": user_id, "invitation_id": invitation.invitation_id},
        data={"role": user.role, "invited_by": invitation.invited_by},
    )
    return JoinedOut(user_id=user_id, account_id=user.account_id, role=user.role)


def _refuse_for_inviter(
    invitation: Invitation, inviter: User | None, *, account_active: bool, meta: RequestMeta, store: MemberStore
) -> NoReturn:
    if not account_active:
        reason = "account_not_active"
    elif inviter is None:
        reason = "inviter_removed"
    elif inviter.reset_required:
        reason = "inviter_suspended"
    else:
        reason = "inviter_demoted"
    _revoke(invitation, reason=reason, actor="system", meta=meta, answered=True, store=store)
    raise InvitationRevoked


def list_members(principal: Principal, limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None) -> MemberList:
    """GET /v1/members: members (oldest first), then pending invitations, marked `invited`; paged."""
    now = int(clock.timestamp())
    # One order over both kinds: members ("0" + user id, ids sort by creation), then invitations ("1" + id).
    entries: list[tuple[str, User | Invitation]] = [
        ("0" + u.user_id, u) for u in members_dal.users(principal.account_id)
    ]
    entries += [
        ("1" + i.invitation_id, i) for i in members_dal.invitations(principal.account_id) if int(i.expires_at) > now
    ]
    chosen, more = caps.page(entries, lambda e: e[0], limit=limit, cursor=cursor)
    return MemberList(data=[_member_out(entry) for _, entry in chosen], next_cursor=more)


def _member_out(entry: User | Invitation) -> MemberOut:
    if isinstance(entry, User):
        return MemberOut(
            user_id=entry.user_id,
            email=notices.email_of(entry),
            role=entry.role,
            status="active",
            mfa_enabled=bool(entry.mfa_enabled),
            created_at=clock.rfc3339_at(int(entry.created_at)),
        )
    return MemberOut(
        invitation_id=entry.invitation_id,
        email=_invitation_email(entry),
        role=entry.role,
        status="invited",
        mfa_enabled=False,
        created_at=clock.rfc3339_at(int(entry.created_at)),
        expires_at=clock.rfc3339_at(int(entry.expires_at)),
    )


def _member(principal: Principal, user_id: str, accounts: AccountStore) -> User:
    user = accounts.get_user(principal.account_id, user_id)
    if user is None:
        raise NotFound("No such member.")  # another account's user is exactly as unknown as a missing one
    return user


def _other_owner(user: User, store: MemberStore) -> User | None:
    """Another owner of the account; None when `user` is its last owner."""
    return next((u for u in store.users(user.account_id) if u.role == Role.OWNER and u.user_id != user.user_id), None)


def _last_owner() -> Conflict:
    return Conflict("An account always keeps at least one owner.", code="last_owner")


def _refused(refused: members_dal.Refused) -> Conflict:
    if refused.reason == "last_owner":
        return _last_owner()
    return Conflict("The member changed meanwhile; read it again and retry.", code="member_changed")


def change_role(
    principal: Principal, user_id: str, role: Role, meta: RequestMeta, stores: Stores | None = None
) -> MemberOut:
    """PATCH /v1/members/{user_id}: applies on the member's next request (the authorizer reads the role each time)."""
    store, accounts = stores or Stores()
    user = _member(principal, user_id, accounts)
    _may_act_on(principal, user.role)
    _may_act_on(principal, role)
    previous = user.role
    if role != previous:
        other = _other_owner(user, store) if previous == Role.OWNER else None
        if previous == Role.OWNER and other is None:
            raise _last_owner()
        try:
            store.change_role(user, role.value, other_owner=other)
        except members_dal.Refused as refused:
            raise _refused(refused) from refused
        revoke_invitations_of(user, new_role=role.value, actor=principal.principal, meta=meta, store=store)
        audit.success(
            principal,
            "member.role_changed",
            meta,
            target={"user_id": user.user_id},
            data={"from": previous, "to": role.value},
        )
        _send(
            notices.email_of(user),
            "your role changed",
            f"Your role in the Switchboard account {_account_name(user.account_id)!r} changed from {previous} to "
            f"{role.value}. It applies from your next request. If this is unexpected, ask an owner.",
        )
    return MemberOut(
        user_id=user.user_id,
        email=notices.email_of(user),
        role=role.value,
        status="active",
        mfa_enabled=bool(user.mfa_enabled),
        created_at=clock.rfc3339_at(int(user.created_at)),
    )


def _cancel_invitation(principal: Principal, invitation_id: str, meta: RequestMeta, store: MemberStore) -> None:
    item = next((i for i in store.invitations(principal.account_id) if i.invitation_id == invitation_id), None)
    if item is None:
        raise NotFound("No such member.")
    _may_act_on(principal, item.role)
    store.delete_invitation(item)
    audit.success(
        principal,
        "member.removed",
        meta,
        target={"invitation_id": invitation_id},
        data={"role": item.role, "invitation": True},
    )


def remove(principal: Principal, user_id: str, meta: RequestMeta, stores: Stores | None = None) -> None:
    """DELETE /v1/members/{user_id}: their sessions and API keys die at once (an `inv_…` id cancels an invitation)."""
    store, accounts = stores or Stores()
    if user_id.startswith(INVITATION_PREFIX):
        _cancel_invitation(principal, user_id, meta, store)
        return
    user = _member(principal, user_id, accounts)
    _may_act_on(principal, user.role)
    other = _other_owner(user, store) if user.role == Role.OWNER else None
    if user.role == Role.OWNER and other is None:
        raise _last_owner()
    email = accounts.open_field(user, "email")
    try:
        store.remove(user, other_owner=other)
    except members_dal.Refused as refused:
        raise _refused(refused) from refused
    # The authorizer already refuses a removed user's sessions and keys (it reads the user on every request);
    # deleting them as well leaves nothing behind that could outlive a re-created user id.
    sessions.end_all(user.account_id, user.user_id, reason="member_removed", meta=meta)
    revoke_invitations_of(user, new_role=None, actor=principal.principal, meta=meta, store=store)
    api_keys.revoke_created_by(
        user.account_id, user.user_id, actor=principal.principal, reason="member_removed", meta=meta
    )
    audit.success(principal, "member.removed", meta, target={"user_id": user.user_id}, data={"role": user.role})
    _send(
        email,
        "you were removed from an account",
        f"You were removed from the Switchboard account {_account_name(user.account_id)!r}. Your sessions and "
        "API keys there have ended. If this is unexpected, contact an owner of that account.",
    )
