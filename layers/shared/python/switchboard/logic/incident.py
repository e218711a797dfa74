"""Operators' incident actions on an account (R68, R22): suspend, reinstate, end sessions, revoke keys, force a reset.

Each is idempotent where a repeat means the same thing (suspending a suspended account, ending sessions that are
gone), refuses a transition that cannot happen (409), and leaves an audit event in the account's own trail with
`actor` = the operator's (`operator:<id>`, switchboard.operators), so its owners see it in `GET /v1/audit-events`
(R34). Credentials stop working on the very next request because the authorizer is never cached and reads the
account, user, session and key with consistent reads (catalog.AUTHORIZER_CACHE_TTL_S = 0). A suspended account's
outbound traffic is held, never sent and never lost (logic.standing); reinstating hands it back to the release
job, which sends each item once.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from switchboard import clock, mail
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import api_keys as keys_dal
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import Account, User
from switchboard.dal.closure import ACTIVE
from switchboard.logic import audit, notices, sessions, standing, users
from switchboard.models.errors import Conflict, NotFound
from switchboard.models.incident import AccountStatusOut, ForcedResetOut, KeysRevokedOut, SessionsEndedOut
from switchboard.models.permissions import Role
from switchboard.models.request import RequestMeta

SUSPENDED = "suspended"
_SIGNATURE = "If you have questions, reply to Switchboard support quoting your account id."


# Our ids (switchboard.ids): anything else names nothing, and never reaches DynamoDB (an over-long key is a 500).
_ACCOUNT_ID = re.compile(r"acct_[0-9a-z]{26}")
_USER_ID = re.compile(r"usr_[0-9a-z]{26}")
NOT_ACTIVE = "account_not_active"  # 409: only an active account can be suspended (a closing one is refused already)
NOT_SUSPENDED = "account_not_suspended"  # 409: only a suspended account can be reinstated


def _account(account_id: str) -> Account:
    account = accounts_dal.get_account(account_id) if _ACCOUNT_ID.fullmatch(account_id) else None
    if account is None:
        raise NotFound("No such account.")
    return account


def _user(account_id: str, user_id: str) -> User:
    _account(account_id)
    user = accounts_dal.get_user(account_id, user_id) if _USER_ID.fullmatch(user_id) else None
    if user is None:
        raise NotFound("No such user in this account.")
    return user


def _tell(recipients: list[User], subject: str, body: str) -> None:
    """One e-mail to each of these users (queued: mail_worker sends it)."""
    for user in recipients:
        mail.send(
            mail.Email(to=notices.email_of(user), subject=f"Switchboard: {subject}", body=f"{body}\n\n{_SIGNATURE}")
        )


def _owners(account_id: str) -> list[User]:
    return [u for u in members_dal.users(account_id) if u.role == Role.OWNER.value]


def _end_every_session(account_id: str, *, actor: str, reason: str, meta: RequestMeta) -> tuple[int, list[User]]:
    """End every session of every user of the account: how many, and the users who had one."""
    ended, touched = 0, []
    for member in members_dal.users(account_id):
        count = sessions.end_all(account_id, member.user_id, reason=reason, meta=meta, actor=actor)
        if count:
            ended += count
            touched.append(member)
    return ended, touched


def _record(
    account_id: str,
    kind: str,
    *,
    actor: str,
    meta: RequestMeta,
    reason: str | None,
    target: dict[str, str] | None = None,
    **facts: str | int | bool,
) -> None:
    """One successful operator action in the account's own trail; the reason, when given, is one of its facts."""
    data = {**facts, **({"reason": reason} if reason else {})}
    audit.record(account_id=account_id, type=kind, outcome="success", actor=actor, meta=meta, target=target, data=data)


def suspend(account_id: str, *, actor: str, reason: str, meta: RequestMeta) -> AccountStatusOut:
    """Active → suspended: every session ends, keys and logins are refused, outbound traffic is held.

    Suspending a suspended account changes nothing (200, `changed: false`); a closing account is 409.
    """
    account = _account(account_id)
    if account.status == SUSPENDED:
        return AccountStatusOut(account_id=account_id, status=SUSPENDED, changed=False)
    if account.status != ACTIVE or not accounts_dal.change_status(account_id, was=ACTIVE, to=SUSPENDED):
        # Not active, or it stopped being active since the read (another operator, a closure): decide again.
        now = _account(account_id)
        if now.status == SUSPENDED:
            return AccountStatusOut(account_id=account_id, status=SUSPENDED, changed=False)
        raise Conflict(f"Only an active account can be suspended; this one is {now.status}.", code=NOT_ACTIVE)
    # Refused by the authorizer from now on; deleting the sessions also keeps them dead after a reinstatement (R22).
    notice = (
        "Switchboard suspended your account: every session was ended, API keys and logins are refused, and messages "
        f"and webhooks are held (not sent, not lost) until the account is reinstated.\nReason: {reason}"
    )
    return _status_changed(account_id, SUSPENDED, actor=actor, meta=meta, reason=reason, notice=notice)


def reinstate(account_id: str, *, actor: str, reason: str | None, meta: RequestMeta) -> AccountStatusOut:
    """Suspended → active: logins and keys work again; held sends and webhooks go out once (the release job).

    Anything but a suspended account is 409 (of two racing reinstatements exactly one succeeds).
    """
    account = _account(account_id)
    if account.status != SUSPENDED or not accounts_dal.change_status(account_id, was=SUSPENDED, to=ACTIVE):
        status = _account(account_id).status
        raise Conflict(f"Only a suspended account can be reinstated; this one is {status}.", code=NOT_SUSPENDED)
    standing.resume(account_id)
    # A login that passed its account check just before the suspension may have made a session after the
    # suspension ended them all: ending sessions again here means none made while suspended survives.
    notice = (
        "Switchboard reinstated your account: everyone can log in again, API keys work again, and the messages and "
        "webhooks held meanwhile are sent now (those still valid; expired ones are marked expired). Your audit "
        "trail (GET /v1/audit-events) lists every action taken on the account."
    )
    return _status_changed(account_id, ACTIVE, actor=actor, meta=meta, reason=reason, notice=notice)


def _status_changed(
    account_id: str, status: str, *, actor: str, meta: RequestMeta, reason: str | None, notice: str
) -> AccountStatusOut:
    """After a suspension or reinstatement: every session ends, the event is audited, the owners are told."""
    ended, _ = _end_every_session(account_id, actor=actor, reason="account_suspended", meta=meta)
    kind = "suspended" if status == SUSPENDED else "reinstated"
    _record(account_id, f"account.{kind}", actor=actor, meta=meta, reason=reason, sessions_ended=ended)
    _tell(_owners(account_id), f"your account was {kind}", notice)
    return AccountStatusOut(account_id=account_id, status=status, changed=True, sessions_ended=ended)


def end_sessions(
    account_id: str, *, actor: str, user_id: str | None = None, reason: str | None, meta: RequestMeta
) -> SessionsEndedOut:
    """End every session of one user, or of every user of the account; each user who had one is told."""
    if user_id is None:
        _account(account_id)
        users_count = len(members_dal.users(account_id))
        ended, touched = _end_every_session(account_id, actor=actor, reason="operator", meta=meta)
    else:
        user = _user(account_id, user_id)
        users_count = 1
        ended = sessions.end_all(account_id, user_id, reason="operator", meta=meta, actor=actor)
        touched = [user] if ended else []
    target = {"user_id": user_id} if user_id else None
    _record(account_id, "sessions.ended", actor=actor, meta=meta, reason=reason, target=target, sessions_ended=ended)
    _tell(
        touched,
        "you were logged out",
        "Switchboard support ended your sessions. Log in again to continue. If you did not expect this, change "
        "your password.",
    )
    return SessionsEndedOut(account_id=account_id, user_id=user_id, users=users_count, sessions_ended=ended)


def revoke_keys(account_id: str, *, actor: str, reason: str | None, meta: RequestMeta) -> KeysRevokedOut:
    """Revoke every live API key of the account (refused from the next request); the owners are told."""
    _account(account_id)
    now = int(clock.timestamp())
    revoked: list[str] = []
    for key in keys_dal.list_keys(account_id):
        if key.expires_at <= now:
            continue  # revoked or expired already: a repeat revokes nothing
        # Expired now rather than deleted, as a customer's revocation: a later use is recognised and audited (R54).
        keys_dal.shorten(key, now)
        _record(account_id, "api_key.revoked", actor=actor, meta=meta, reason=reason, target={"key_id": key.key_id})
        revoked.append(key.key_id)
    _record(account_id, "api_keys.revoked_all", actor=actor, meta=meta, reason=reason, keys_revoked=len(revoked))
    if revoked:
        _tell(
            _owners(account_id),
            "your API keys were revoked",
            f"Switchboard support revoked every API key of your account ({len(revoked)}). Integrations that use them "
            "get 401 until you create new keys (POST /v1/api-keys) and put them in place.",
        )
    return KeysRevokedOut(account_id=account_id, keys_revoked=len(revoked), key_ids=revoked)


def force_password_reset(
    account_id: str, user_id: str, *, actor: str, reason: str | None, meta: RequestMeta
) -> ForcedResetOut:
    """Require a new password: the user's sessions end, their next login answers `password_reset_required`, and
    they get the reset link (the normal flow, without its per-address hourly limit). A repeat while a link is
    pending sends none."""
    user = _user(account_id, user_id)
    changed = accounts_dal.require_reset_once(user)
    # Sessions made before this moment are dead even if one is being created right now (its login read the user first).
    accounts_dal.update_user(user, sessions_not_before=int(clock.timestamp()))
    ended = sessions.end_all(account_id, user_id, reason="password_reset_forced", meta=meta, actor=actor)
    # A new link when this call required the reset, or when one was required (R9) but no link is pending.
    send_link = changed or not user.reset_digest
    facts = {"already_required": not changed, "sessions_ended": ended, "link_sent": send_link}
    _record(
        account_id, "password.reset_forced", actor=actor, meta=meta, reason=reason, target={"user_id": user_id}, **facts
    )
    if send_link:
        _tell(
            [user],
            "reset your password",
            "Switchboard support requires a new password for your account: your sessions were ended and you can log "
            "in again once you have chosen a new password with the link in our next e-mail (or 'Forgot password').",
        )
        job = {"email": notices.email_of(user), "index": user.email_index, "meta": asdict(meta), "actor": actor}
        users.process_reset(job, first_attempt=False)
    return ForcedResetOut(
        account_id=account_id, user_id=user_id, changed=changed, sessions_ended=ended, link_sent=send_link
    )
