"""Signup and e-mail verification (R1, R2, R8), /me, password change (R5) and password reset (R6)."""

from __future__ import annotations

import secrets as pysecrets

from switchboard import clock, ids
from switchboard.auth import Principal, require_recent_auth
from switchboard.crypto import blind_index, envelope, passwords, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.accounts import AccountItem, NewSender, UserItem
from switchboard.logic import audit, notices, sessions, throttle
from switchboard.models.errors import BadRequest, NotFound
from switchboard.models.identity import MeOut, PasswordChangeIn, ResetConfirmIn, SignupIn
from switchboard.models.request import RequestMeta

CHANNELS = ("sms", "whatsapp", "voice")
SANDBOX_CARRIER = "sandbox-a"
VERIFY_TTL_S = 24 * 60 * 60
RESET_TTL_S = 30 * 60
VERIFY = "VERIFY"
RESET = "RESET"
_CREATE_ATTEMPTS = 3


class TokenInvalid(BadRequest):
    """A verification or reset token that is unknown, used, replaced or expired: one answer for all."""

    code = "token_invalid"


def _context_words(email: str, account_name: str) -> tuple[str, ...]:
    return (account_name, email, email.split("@", 1)[0])


def _sandbox_number() -> str:
    # +1 555 01xx-style fictional range, widened: the business's own sandbox numbers, not personal data.
    return f"+1555{pysecrets.randbelow(10**7):07d}"


def _issue_token(user: UserItem, kind: str, ttl_s: int) -> str:
    token = tokens.new_token()
    sessions_dal.put_token(
        tokens.digest(token),
        kind,
        account_id=user.account_id,
        user_id=user.user_id,
        expires_at=int(clock.timestamp()) + ttl_s,
    )
    return token


def _create(body: SignupIn, email: str, index: str, meta: RequestMeta) -> bool:
    """Create account, owner and senders; False when the e-mail turned out to be taken meanwhile."""
    account_id, user_id = ids.new_id("acct"), ids.new_id("usr")
    envelope.create_key(account_id)
    stored = passwords.hash_password(body.password)
    now = int(clock.timestamp())
    pk, sk = accounts_dal.account_pk(account_id), accounts_dal.user_sk(user_id)
    owner = UserItem(
        pk,
        sk,
        user_id=user_id,
        account_id=account_id,
        email_sealed=envelope.seal(account_id, email, table=accounts_dal.TABLE, item_key=f"{pk}|{sk}", field="email"),
        email_index=index,
        role="owner",
        password_phc=stored.phc,
        pepper_version=stored.pepper_version,
        email_verified=False,
        created_at=now,
        password_changed_at=now,
    )
    for _ in range(_CREATE_ATTEMPTS):
        account = AccountItem(
            pk, accounts_dal.ACCOUNT_SK, account_id=account_id, name=body.account_name, created_at=now
        )
        senders = [NewSender(channel=c, carrier=SANDBOX_CARRIER, number=_sandbox_number()) for c in CHANNELS]
        try:
            accounts_dal.create_account(account, owner, senders)
            break
        except accounts_dal.Taken:
            if accounts_dal.email_taken(index):
                envelope.shred(account_id)  # the key of an account that never came to be
                return False
    else:
        raise RuntimeError("could not assign unique sender numbers")
    audit.record(account_id=account_id, type="account.created", outcome="success", actor=user_id, meta=meta)
    notices.send_link(email, kind="verify", token=_issue_token(owner, VERIFY, VERIFY_TTL_S))
    return True


def signup(body: SignupIn, meta: RequestMeta) -> None:
    """POST /v1/signup: the same answer and the same Argon2id work whether or not the e-mail exists (R8)."""
    email = blind_index.normalize_email(body.email)
    passwords.check_policy(body.password, context=_context_words(email, body.account_name))
    index = blind_index.email_index(email)
    lookup = accounts_dal.find_by_email(index)
    if lookup is None and _create(body, email, index, meta):
        return
    passwords.hash_password(body.password)  # the work a new signup does, so timing tells nothing
    lookup = lookup or accounts_dal.find_by_email(index)
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
    if user is None:
        return
    if user.email_verified:
        notices.notify(user, "signup_existing")
    else:
        notices.send_link(email, kind="verify", token=_issue_token(user, VERIFY, VERIFY_TTL_S))


def _take_token(token: str, kind: str) -> UserItem:
    item = sessions_dal.get_token(tokens.digest(token), kind)
    if item is None or int(item.expires_at) <= clock.timestamp():
        raise TokenInvalid("This link is invalid, was already used or has expired.")
    user = accounts_dal.get_user(item.account_id, item.user_id)
    if user is None:
        raise TokenInvalid("This link is invalid, was already used or has expired.")
    if kind == RESET and not (user.reset_digest and tokens.same(user.reset_digest, tokens.digest(token))):
        raise TokenInvalid("This link is invalid, was already used or has expired.")  # a newer link replaced it
    return user


def verify_email(token: str, meta: RequestMeta) -> None:
    """POST /v1/email-verifications: the single-use token proves the address; the user may now log in."""
    user = _take_token(token, VERIFY)
    item = sessions_dal.get_token(tokens.digest(token), VERIFY)
    if item is None or not sessions_dal.consume_token(item):
        raise TokenInvalid("This link is invalid, was already used or has expired.")
    accounts_dal.update_user(user, [UserItem.email_verified.set(True)])
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


def _set_password(user: UserItem, password: str, extra: list[object] | None = None) -> None:
    stored = passwords.hash_password(password)
    now = int(clock.timestamp())
    actions = [
        UserItem.password_phc.set(stored.phc),
        UserItem.pepper_version.set(stored.pepper_version),
        UserItem.password_changed_at.set(now),
        UserItem.reset_digest.remove(),  # a pending reset link dies with the old password (R6)
    ]
    accounts_dal.update_user(user, [*actions, *(extra or [])])  # type: ignore[list-item]


def change_password(principal: Principal, body: PasswordChangeIn, meta: RequestMeta) -> None:
    """POST /v1/me/password: the current password, a recent login; other sessions end, an e-mail says so (R5)."""
    require_recent_auth(principal)
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
    """POST /v1/password-resets: a 30-minute single-use link for a known e-mail, nothing else otherwise (R6)."""
    index = blind_index.email_index(email)
    lookup = accounts_dal.find_by_email(index)
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
    if user is None:
        return
    if user.reset_digest:
        sessions_dal.delete_token(user.reset_digest, RESET)  # the newest link is the only one that works
    token = _issue_token(user, RESET, RESET_TTL_S)
    accounts_dal.update_user(user, [UserItem.reset_digest.set(tokens.digest(token))])
    audit.record(
        account_id=user.account_id, type="password.reset_requested", outcome="success", actor=user.user_id, meta=meta
    )
    notices.send_link(blind_index.normalize_email(email), kind="reset", token=token)


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
        raise TokenInvalid("This link is invalid, was already used or has expired.")
    _set_password(
        user,
        body.new_password,
        [
            UserItem.failed_logins.set(0),
            UserItem.reset_required.set(False),
            UserItem.email_verified.set(True),  # the link proved control of the address
            UserItem.sessions_not_before.set(int(clock.timestamp())),
        ],
    )
    sessions.end_all(user.account_id, user.user_id, reason="password_reset", meta=meta)
    throttle.record_success(user.email_index)
    audit.record(account_id=user.account_id, type="password.reset", outcome="success", actor=user.user_id, meta=meta)
    notices.notify(user, "password_reset")
