"""Signup and e-mail verification (R1, R2, R8), /me, password change (R5) and password reset (R6)."""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, NoReturn

from switchboard import clock, ids, mail, settings
from switchboard.auth import Principal
from switchboard.catalog import CHANNELS
from switchboard.crypto import blind_index, envelope, passwords, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import members as members_dal
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.accounts import NewSender, User
from switchboard.logic import api_keys, audit, email_lookup, mailer, notices, sessions, throttle
from switchboard.models.errors import BadRequest, NotFound
from switchboard.models.identity import MeOut, PasswordChangeIn, ResetConfirmIn, SignupIn
from switchboard.models.request import RequestMeta

SANDBOX_CARRIER = "sandbox-a"
VERIFY_TTL_S = 24 * 60 * 60
RESET_TTL_S = 30 * 60
VERIFY = "VERIFY"
RESET = "RESET"
SIGNUP_JOB = "signup"  # Mail queue records that mail_worker turns into work and e-mail (switchboard.logic.mailer)
RESET_JOB = "reset"
_CREATE_ATTEMPTS = 3


class TokenInvalid(BadRequest):
    """A verification or reset token that is unknown, used, replaced or expired: one answer for all."""

    code = "token_invalid"


def _context_words(email: str, account_name: str) -> tuple[str, ...]:
    return (account_name, email, email.split("@", 1)[0])


def _sandbox_number() -> str:
    # +1 555 01xx-style fictional range, widened: the business's own sandbox numbers, not personal data.
    return f"+1555{pysecrets.randbelow(10**7):07d}"


def _issue_token(user: User, kind: str, ttl_s: int, **bound: Any) -> str:
    token = tokens.new_token()
    sessions_dal.put_token(
        tokens.digest(token),
        kind,
        account_id=user.account_id,
        user_id=user.user_id,
        expires_at=int(clock.timestamp()) + ttl_s,
        **bound,
    )
    return token


def _issue_verification(user: User, job: dict[str, Any]) -> str:
    """A verification link bound to one signup: verifying it sets that signup's password and account name."""
    return _issue_token(
        user,
        VERIFY,
        VERIFY_TTL_S,
        password=(job["password_phc"], job["pepper_version"]),
        account_name=job["account_name"],
    )


def _meta(job: dict[str, Any]) -> RequestMeta:
    return RequestMeta(**job["meta"])


def _create(job: dict[str, Any]) -> User | None:
    """Create account, owner and senders; None when the e-mail turned out to be taken meanwhile."""
    email, index = job["email"], job["index"]
    account_id, user_id = ids.new_id("acct"), ids.new_id("usr")
    envelope.create_key(account_id)
    now = int(clock.timestamp())
    owner = accounts_dal.new_user(
        account_id,
        user_id,
        email=email,
        email_index=index,
        email_index_version=job.get("index_version"),  # absent in jobs queued before versions were kept: v1
        role="owner",
        password_phc=job["password_phc"],
        pepper_version=job["pepper_version"],
        email_verified=False,
        created_at=now,
        password_changed_at=now,
    )
    for _ in range(_CREATE_ATTEMPTS):
        account = accounts_dal.new_account(account_id, name=job["account_name"], created_at=now)
        senders = [NewSender(channel=c, carrier=SANDBOX_CARRIER, number=_sandbox_number()) for c in CHANNELS]
        try:
            accounts_dal.create_account(account, owner, senders)
            break
        except accounts_dal.Taken:
            if accounts_dal.email_taken(index) or email_lookup.taken(email):
                envelope.shred(account_id)  # the key of an account that never came to be
                return None
    else:
        raise RuntimeError("could not assign unique sender numbers")
    audit.record(account_id=account_id, type="account.created", outcome="success", actor=user_id, meta=_meta(job))
    return owner


@contextmanager
def _uniform_time() -> Iterator[None]:
    """Answer no sooner than the identity floor (the failed-login floor, R8), whatever happened: with the same work
    on both paths, the floor also absorbs the noise of a busy host, so medians match to the millisecond."""
    started = time.perf_counter()  # a duration, not a moment: the monotonic counter, not the platform clock
    try:
        yield
    finally:
        remaining = settings.get().login_failure_floor_ms / 1000 - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)


def signup(body: SignupIn, meta: RequestMeta) -> None:
    """POST /v1/signup: check, hash and enqueue; mail_worker looks the address up (process_signup).

    The request does the same work whether or not the e-mail exists (one Argon2id hash, one SendMessage) and
    takes at least the identity floor: its answer and its time say nothing about which addresses exist (R8).
    """
    with _uniform_time():
        _signup(body, meta)


def _signup(body: SignupIn, meta: RequestMeta) -> None:
    email = blind_index.normalize_email(body.email)
    passwords.check_policy(body.password, context=_context_words(email, body.account_name))
    version = blind_index.current_version()
    index = blind_index.email_index(email, version)
    stored = passwords.hash_password(body.password)
    mail.enqueue(
        {
            "type": SIGNUP_JOB,
            "email": email,
            "index": index,
            "index_version": version,
            "password_phc": stored.phc,
            "pepper_version": stored.pepper_version,
            "account_name": body.account_name,
            "meta": asdict(meta),
        }
    )


def process_signup(job: dict[str, Any], *, first_attempt: bool) -> None:
    """mail_worker: a new address gets an account and a link; an unverified one a link bound to THIS signup's
    password; a verified one a notice. At most LIMITS["verify"] of these e-mails per address and hour."""
    email, index = job["email"], job["index"]
    if first_attempt and not mailer.allow(index, "verify"):
        return
    lookup = email_lookup.owner(email)  # an address stored under an older key version is not new
    if lookup is None:
        owner = _create(job)
        if owner is not None:
            notices.send_link(email, kind="verify", token=_issue_verification(owner, job))
            return
        lookup = email_lookup.owner(email)
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
    if user is None:
        return
    if user.email_verified:
        notices.notify(user, "signup_existing")
    else:
        notices.send_link(email, kind="verify", token=_issue_verification(user, job))


def _refuse_token() -> NoReturn:
    raise TokenInvalid("This link is invalid, was already used or has expired.")


def _take_token(token: str, kind: str) -> User:
    item = sessions_dal.get_token(tokens.digest(token), kind)
    if item is None or int(item.expires_at) <= clock.timestamp():
        _refuse_token()
    user = accounts_dal.get_user(item.account_id, item.user_id)
    if user is None:
        _refuse_token()
    if kind == RESET and not (user.reset_digest and tokens.same(user.reset_digest, tokens.digest(token))):
        _refuse_token()  # a newer link replaced it
    return user


def _revoke_keys(user: User, *, since: int, reason: str, meta: RequestMeta) -> int:
    """Revoke the user's API keys created at or after `since`: whoever held the credential then may have made them."""
    return api_keys.revoke_created_by(
        user.account_id, user.user_id, actor=user.user_id, reason=reason, meta=meta, since=since
    )


def _drop_unproven(user: User, meta: RequestMeta) -> None:
    """The first proof of an address: nothing set up before it survives (sessions, keys, other members,
    invitations). An unverified owner cannot log in, so there is normally nothing; this holds it regardless."""
    sessions.end_all(user.account_id, user.user_id, reason="email_verified", meta=meta)
    _revoke_keys(user, since=0, reason="email_verified", meta=meta)
    for other in members_dal.users(user.account_id):
        if other.user_id != user.user_id:
            sessions.end_all(other.account_id, other.user_id, reason="email_verified", meta=meta)
            members_dal.remove(other, other_owner=None)  # the verified owner stays: no last-owner check
    for invitation in members_dal.invitations(user.account_id):
        members_dal.delete_invitation(invitation)


def verify_email(token: str, meta: RequestMeta) -> None:
    """POST /v1/email-verifications: the link proves control of the address, and the account gets exactly what the
    signup that link was sent for chose (its password, its account name); nothing set before survives.

    A link of an address that is already verified (by another link or a reset) is refused and spent: once an
    address is proven, no link can set its password again.
    """
    user = _take_token(token, VERIFY)
    item = sessions_dal.get_token(tokens.digest(token), VERIFY)
    if item is None or not sessions_dal.consume_token(item):
        _refuse_token()
    if user.email_verified or not item.password_phc or not item.pepper_version:
        _refuse_token()  # spent either way; a link issued before links carried their signup is not honoured
    now = int(clock.timestamp())
    proven = accounts_dal.prove_email(
        user,
        email_verified=True,
        password_phc=item.password_phc,
        pepper_version=item.pepper_version,
        password_changed_at=now,
        sessions_not_before=now,
        failed_logins=0,
        reset_required=False,
        reset_digest=None,
    )
    if not proven:
        _refuse_token()  # another link of this address won
    if item.account_name:
        accounts_dal.rename_account(user.account_id, item.account_name)
    _drop_unproven(user, meta)
    audit.record(account_id=user.account_id, type="email.verified", outcome="success", actor=user.user_id, meta=meta)


def me(principal: Principal) -> MeOut:
    """GET /v1/me."""
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is None:
        raise NotFound("No such user.")
    return MeOut(
        user_id=user.user_id,
        email=notices.email_of(user),
        account_id=user.account_id,
        role=user.role,
        mfa_enabled=bool(user.mfa_enabled),
    )


def _account_name(account_id: str) -> str:
    account = accounts_dal.get_account(account_id)
    return account.name if account else ""


def _set_password(user: User, password: str, **extra: Any) -> None:
    stored = passwords.hash_password(password)
    accounts_dal.update_user(
        user,
        password_phc=stored.phc,
        pepper_version=stored.pepper_version,
        password_changed_at=int(clock.timestamp()),
        reset_digest=None,  # a pending reset link dies with the old password (R6)
        **extra,
    )


def change_password(principal: Principal, body: PasswordChangeIn, meta: RequestMeta) -> None:
    """POST /v1/me/password: the current password, a recent login; other sessions end, an e-mail says so (R5)."""
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is None:
        raise NotFound("No such user.")
    sessions.check_password(user, body.current_password, meta)
    email = notices.email_of(user)
    passwords.check_policy(
        body.new_password, context=_context_words(email, _account_name(user.account_id)), pointer="/new_password"
    )
    _set_password(user, body.new_password)
    sessions.end_all(user.account_id, user.user_id, reason="password_changed", meta=meta, keep=principal.session_id)
    audit.record(account_id=user.account_id, type="password.changed", outcome="success", actor=user.user_id, meta=meta)
    notices.notify(user, "password_changed")


def request_reset(email: str, meta: RequestMeta) -> None:
    """POST /v1/password-resets: enqueue; mail_worker sends the link if the address is known (process_reset).

    The request does the same work for known and unknown addresses (one blind index, one SendMessage) and takes at
    least the identity floor (R6, R8).
    """
    normalized = blind_index.normalize_email(email)
    with _uniform_time():
        mail.enqueue(
            {"type": RESET_JOB, "email": normalized, "index": blind_index.email_index(normalized), "meta": asdict(meta)}
        )


def process_reset(job: dict[str, Any], *, first_attempt: bool) -> None:
    """mail_worker: a 30-minute single-use link for a known e-mail, nothing otherwise; at most LIMITS["reset"] an
    hour per address (the excess is dropped: the newest link keeps working, and the asker learns nothing)."""
    email, index = job["email"], job["index"]
    lookup = email_lookup.owner(email)
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
    if user is None:
        return
    if first_attempt and not mailer.allow(index, "reset"):
        return
    if user.reset_digest:
        sessions_dal.delete_token(user.reset_digest, RESET)  # the newest link is the only one that works
    token = _issue_token(user, RESET, RESET_TTL_S)
    accounts_dal.update_user(user, reset_digest=tokens.digest(token))
    audit.record(
        account_id=user.account_id,
        type="password.reset_requested",
        outcome="success",
        actor=str(job.get("actor") or user.user_id),  # an operator's forced reset names the operator
        meta=_meta(job),
    )
    notices.send_link(email, kind="reset", token=token)


def confirm_reset(body: ResetConfirmIn, meta: RequestMeta) -> None:
    """POST /v1/password-resets/confirm: new password, every session ends, lockouts clear; 2FA stays (R6)."""
    user = _take_token(body.token, RESET)
    email = notices.email_of(user)
    # The policy runs before the token is spent, so a refused password does not cost the user their link.
    passwords.check_policy(
        body.new_password, context=_context_words(email, _account_name(user.account_id)), pointer="/new_password"
    )
    item = sessions_dal.get_token(tokens.digest(body.token), RESET)
    if item is None or not sessions_dal.consume_token(item):
        _refuse_token()
    replaced_since, unproven = int(user.password_changed_at), not user.email_verified
    _set_password(
        user,
        body.new_password,
        failed_logins=0,
        reset_required=False,
        email_verified=True,  # the link proved control of the address
        sessions_not_before=int(clock.timestamp()),
    )
    sessions.end_all(user.account_id, user.user_id, reason="password_reset", meta=meta)
    # Every other way in ends (R6): the keys made with the password this reset replaces, by whichever session.
    _revoke_keys(user, since=replaced_since, reason="password_reset", meta=meta)
    if unproven:
        _drop_unproven(user, meta)  # the reset link is this address's first proof
    throttle.record_success(user.email_index)
    audit.record(account_id=user.account_id, type="password.reset", outcome="success", actor=user.user_id, meta=meta)
    notices.notify(user, "password_reset")
