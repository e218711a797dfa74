"""Login (R8-R10, R14), sessions (R19-R23), re-authentication (R24) and resolving a session token (R22, R32)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

from switchboard import clock, ids, settings, signals
from switchboard.auth import Principal
from switchboard.crypto import blind_index, passwords, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.accounts import Account, User
from switchboard.dal.sessions import Session
from switchboard.logic import audit, caps, devices, email_lookup, mfa, notices, throttle
from switchboard.models import paging
from switchboard.models.errors import NotFound, Unauthorized
from switchboard.models.request import RequestMeta
from switchboard.observability import logger

if TYPE_CHECKING:
    from switchboard.logic.ports import AuditLog, Directory
    from switchboard.models.identity import LoginIn, ReauthIn, ReauthOut, SessionList, SessionOut

IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 60 * 60
TOUCH_EVERY_S = 60  # last_seen is written at most once a minute (R20)
MAX_SESSIONS = 10  # per user; the oldest is evicted (R23)
RESET_AFTER_FAILURES = 100  # consecutive failures before a reset is required (R9)
NOTIFY_AFTER_FAILURES = 5  # a success after this many failures is worth an e-mail (R11)


class SessionStore(Protocol):
    """The Sessions repository as logic uses it: `dal.sessions` (moto tests), or an in-memory fake."""

    def put_session(self, session: Session, *, ip: str | None = None, user_agent: str | None = None) -> Session: ...
    def get_session(self, digest: str) -> Session | None: ...
    def user_sessions(self, account_id: str, user_id: str) -> list[Session]: ...
    def touch(self, session: Session, now: int) -> None: ...
    def set_auth_at(self, session: Session, now: int) -> None: ...
    def delete_session(self, session: Session) -> None: ...
    def open_field(self, session: Session, field: str) -> str: ...


class InvalidCredentials(Unauthorized):
    """Wrong or unknown e-mail, or wrong password: one answer for all (R8)."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The e-mail or password is wrong.")


def count_failure(user: User, meta: RequestMeta, *, reason: str, attempt: throttle.Attempt | None = None) -> None:
    """A failed password or second factor of a known user: throttles, the consecutive count, audit, notices."""
    locked = attempt.failed() if attempt is not None else throttle.record_failure(user.email_index, meta.source_ip)
    failures = accounts_dal.add_failed_login(user)
    audit.record(
        account_id=user.account_id,
        type="login.failed",
        outcome="failure",
        actor=user.user_id,
        meta=meta,
        data={"reason": reason},
    )
    if locked:
        notices.notify(user, "lockout")
    if failures >= RESET_AFTER_FAILURES and accounts_dal.require_reset_once(user):
        notices.notify(user, "reset_required")


def _attempt(email_index: str, meta: RequestMeta, user: User | None = None) -> AbstractContextManager[throttle.Attempt]:
    """An admitted login attempt; refusing a known user's leaves a denied audit event (R54, capped per minute)."""

    def refused() -> None:
        lookup = None if user else accounts_dal.find_by_email(email_index)
        account_id, user_id = (
            (user.account_id, user.user_id) if user else (lookup.account_id, lookup.user_id) if lookup else ("", "")
        )
        if account_id:
            audit.record_denied(account_id=account_id, type="login.throttled", actor=user_id, meta=meta)

    return throttle.attempt(email_index, meta.source_ip, on_refused=refused)


def verify_password(user: User, password: str, meta: RequestMeta, attempt: throttle.Attempt) -> None:
    """Check a known user's password inside an admitted attempt; a wrong one is counted on it (InvalidCredentials)."""
    stored = passwords.StoredPassword(phc=user.password_phc, pepper_version=user.pepper_version)
    if not passwords.verify(password, stored):
        count_failure(user, meta, reason="password", attempt=attempt)
        raise InvalidCredentials
    if passwords.needs_rehash(stored):
        fresh = passwords.hash_password(password)
        accounts_dal.update_user(user, password_phc=fresh.phc, pepper_version=fresh.pepper_version)


def check_password(user: User, password: str, meta: RequestMeta) -> None:
    """Verify a known user's password in an admitted attempt (R9, R10); InvalidCredentials (counted) when wrong."""
    with _attempt(user.email_index, meta, user) as attempt:
        verify_password(user, password, meta, attempt)


@contextmanager
def password_attempt(user: User, password: str, meta: RequestMeta) -> Iterator[throttle.Attempt]:
    """Verify the password in an admitted attempt that stays open for the block's second-factor check.

    The slot is held until the block ends, so the second factor is guessed under the same limit; a
    SecondFactorFailed raised in the block counts as a failed attempt, anything else gives the slot back.
    """
    with _attempt(user.email_index, meta, user) as attempt:
        verify_password(user, password, meta, attempt)
        try:
            yield attempt
        except mfa.SecondFactorFailed as failure:
            count_failure(user, meta, reason=failure.reason, attempt=attempt)
            raise


def _account_usable(account: Account | None) -> bool:
    return account is not None and account.status == "active"


@contextmanager
def uniform_failure_time() -> Iterator[None]:
    """Let every InvalidCredentials answer take at least the configured floor (R8: no timing oracle)."""
    # A duration, not a moment: the monotonic counter is right here, not the platform clock.
    started = time.perf_counter()
    try:
        yield
    # A throttled login too: only a known user's refusal is audited, which must not be timed either.
    except (InvalidCredentials, throttle.TooManyAttempts):
        remaining = settings.get().login_failure_floor_ms / 1000 - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        raise


def login(body: LoginIn, meta: RequestMeta) -> SessionOut:
    """POST /v1/sessions: every factor checked, then a new session (R8-R10, R14, R19)."""
    with uniform_failure_time():
        try:
            return _login(body, meta)
        except (InvalidCredentials, mfa.SecondFactorFailed):
            signals.count(signals.LOGINS_FAILED)  # a spike: credential stuffing (docs/alarms.md)
            raise


def _login(body: LoginIn, meta: RequestMeta) -> SessionOut:
    from switchboard.models.identity import SessionOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    index = blind_index.email_index(body.email)
    with _attempt(index, meta) as attempt:
        found = email_lookup.find(body.email)  # stored under any live key version (a rotation breaks no login)
        lookup = found.owner if found else None
        user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
        if user is None:
            passwords.burn_equal_time(body.password)  # unknown e-mails cost one Argon2id too (R8)
            attempt.failed()
            logger.info("login failed", extra={"reason": "unknown_email", "request_id": meta.request_id})
            raise InvalidCredentials
        verify_password(user, body.password, meta, attempt)
        # Past this point the caller proved the password, so saying why a login cannot go on reveals nothing new.
        if not _account_usable(accounts_dal.get_account(user.account_id)):
            raise Unauthorized("This account is suspended or being deleted.", code="account_unavailable")
        if not user.email_verified:
            raise Unauthorized("Confirm your e-mail address with the link we sent first.", code="email_not_verified")
        if user.reset_required:
            raise Unauthorized(
                "Reset your password (we sent an e-mail) to log in again.", code="password_reset_required"
            )
        factor = "password"
        if user.mfa_enabled:
            try:
                factor = mfa.verify_second_factor(
                    user, totp_code=body.totp_code, recovery_code=body.recovery_code, meta=meta
                )
            except mfa.SecondFactorFailed as failure:
                count_failure(user, meta, reason=failure.reason, attempt=attempt)
                raise
        attempt.succeeded()
    if found is not None:
        user = email_lookup.refresh(user, body.email, found)
    previous_failures = int(user.failed_logins or 0)
    if previous_failures:
        accounts_dal.update_user(user, failed_logins=0)
    if previous_failures >= NOTIFY_AFTER_FAILURES:
        notices.notify(user, "login_after_failures")
    devices.on_login(user, meta)
    audit.record(
        account_id=user.account_id,
        type="login.succeeded",
        outcome="success",
        actor=user.user_id,
        meta=meta,
        data={"factor": factor},
    )
    token, session = create_session(user, meta)
    return SessionOut(
        token=token,
        expires_at=clock.rfc3339_at(int(session.expires_at)),
        idle_timeout_s=IDLE_S,
    )


def create_session(
    user: User, meta: RequestMeta, *, repo: SessionStore = sessions_dal, trail: AuditLog = audit
) -> tuple[str, Session]:
    """A new 256-bit token, stored only as its SHA-256; the oldest sessions beyond ten are evicted (R19, R23)."""
    now = int(clock.timestamp())
    token = tokens.new_token(tokens.SESSION_PREFIX)
    session_id = ids.new_id("ses")
    session = repo.put_session(
        Session(
            token_digest=tokens.digest(token),
            session_id=session_id,
            account_id=user.account_id,
            user_id=user.user_id,
            created_at=now,
            last_seen_at=now,
            auth_at=now,
            expires_at=now + ABSOLUTE_S,
        ),
        ip=meta.source_ip,
        user_agent=meta.user_agent,
    )
    existing = [s for s in repo.user_sessions(user.account_id, user.user_id) if s.session_id != session_id]
    for old in existing[: max(0, len(existing) - (MAX_SESSIONS - 1))]:
        repo.delete_session(old)
        _audit_end(old, reason="evicted", meta=meta, trail=trail)
    trail.record(
        account_id=user.account_id,
        type="session.created",
        outcome="success",
        actor=user.user_id,
        meta=meta,
        target={"session_id": session_id},
    )
    return token, session


def _audit_end(
    session: Session, *, reason: str, meta: RequestMeta | None, trail: AuditLog, actor: str | None = None
) -> None:
    trail.record(
        account_id=session.account_id,
        type="session.ended",
        outcome="success",
        actor=actor or session.user_id,
        meta=meta,
        target={"session_id": session.session_id},
        data={"reason": reason},
    )


def end_all(
    account_id: str,
    user_id: str,
    *,
    reason: str,
    meta: RequestMeta | None,
    keep: str = "",
    actor: str | None = None,
    repo: SessionStore = sessions_dal,
    trail: AuditLog = audit,
) -> int:
    """End every session of a user except `keep` (a session id); the number ended. `actor` (default: the user)
    is who ended them in the audit events (an operator)."""
    ended = 0
    for session in repo.user_sessions(account_id, user_id):
        if session.session_id != keep:
            repo.delete_session(session)
            _audit_end(session, reason=reason, meta=meta, trail=trail, actor=actor)
            ended += 1
    return ended


def _own_session(principal: Principal, session_id: str, repo: SessionStore) -> Session:
    for session in repo.user_sessions(principal.account_id, principal.principal):
        if session.session_id == session_id:
            return session
    raise NotFound("No such session.")


def end(
    principal: Principal,
    session_id: str,
    meta: RequestMeta,
    *,
    repo: SessionStore = sessions_dal,
    trail: AuditLog = audit,
) -> None:
    """End one of the caller's own sessions (404 for anything else)."""
    session = _own_session(principal, session_id, repo)
    repo.delete_session(session)
    reason = "logout" if session_id == principal.session_id else "revoked"
    _audit_end(session, reason=reason, meta=meta, trail=trail)


def list_sessions(
    principal: Principal,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    repo: SessionStore = sessions_dal,
) -> SessionList:
    """The caller's sessions, newest first, paged: created, last seen, IP, user agent, and which one is this."""
    from switchboard.models.identity import SessionInfo, SessionList  # noqa: PLC0415 - pydantic: not in the authorizer's import

    sessions, more = caps.page(
        repo.user_sessions(principal.account_id, principal.principal),
        lambda s: s.session_id,
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    data = [
        SessionInfo(
            id=session.session_id,
            created_at=clock.rfc3339_at(session.created_at),
            last_seen_at=clock.rfc3339_at(session.last_seen_at),
            ip=repo.open_field(session, "ip"),
            user_agent=repo.open_field(session, "user_agent"),
            current=session.session_id == principal.session_id,
        )
        for session in sessions
    ]
    return SessionList(data=data, next_cursor=more)


def reauth(principal: Principal, body: ReauthIn, meta: RequestMeta) -> ReauthOut:
    """Prove the password (and second factor) again on the same session: auth_at moves to now (R24)."""
    from switchboard.models.identity import ReauthOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is None:
        raise Unauthorized("The session's user no longer exists.")
    with password_attempt(user, body.password, meta):
        if user.mfa_enabled:
            mfa.verify_second_factor(user, totp_code=body.totp_code, recovery_code=body.recovery_code, meta=meta)
    now = reauthenticated(principal, meta)
    return ReauthOut(status="reauthenticated", auth_at=clock.rfc3339_at(now))


def reauthenticated(
    principal: Principal, meta: RequestMeta, *, repo: SessionStore = sessions_dal, trail: AuditLog = audit
) -> int:
    """After a proven password (and second factor): the caller's session's auth_at moves to now, audited (R24)."""
    session = _own_session(principal, principal.session_id, repo)
    now = int(clock.timestamp())
    repo.set_auth_at(session, now)
    trail.record(
        account_id=session.account_id,
        type="login.succeeded",
        outcome="success",
        actor=session.user_id,
        meta=meta,
        target={"session_id": session.session_id},
        data={"reauth": True},
    )
    return now


def resolve(
    token: str,
    *,
    repo: SessionStore = sessions_dal,
    directory: Directory = accounts_dal,
    trail: AuditLog = audit,
) -> dict[str, str] | None:
    """The authorizer context of a live session token, or None (R20, R22, R32); touches last_seen."""
    session = repo.get_session(tokens.digest(token))
    if session is None:
        return None
    now = int(clock.timestamp())
    if now >= session.created_at + ABSOLUTE_S or now >= session.last_seen_at + IDLE_S:
        repo.delete_session(session)
        _audit_end(session, reason="expired", meta=None, trail=trail)
        return None
    user = directory.get_user(session.account_id, session.user_id)
    account = directory.get_account(session.account_id)
    if user is None or not user.email_verified or session.created_at < int(user.sessions_not_before or 0):
        return None
    if account is None or not _account_usable(account):
        return None
    if now - session.last_seen_at >= TOUCH_EVERY_S:
        repo.touch(session, now)
    return {
        "account_id": session.account_id,
        "principal": session.user_id,
        "role": user.role,
        "credential": "session",
        "session_id": session.session_id,
        "key_id": "",
        "plan": account.plan,
        "mode": "test" if settings.get().rules.test_mode else "live",
        "auth_at": str(session.auth_at),
    }
