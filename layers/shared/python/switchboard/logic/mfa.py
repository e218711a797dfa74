"""TOTP second factor (R12-R17): enrol, activate, disable, and the check that spends each time step once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.auth import Principal
from switchboard.crypto import passwords, totp
from switchboard.dal import accounts as accounts_dal
from switchboard.dal.accounts import User
from switchboard.logic import audit, notices
from switchboard.models.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from switchboard.models.request import RequestMeta

if TYPE_CHECKING:
    from switchboard.logic.ports import AccountStore
    from switchboard.models.identity import RecoveryCodesOut, TotpEnrolOut


class MfaRequired(Unauthorized):
    """The password was right and the user has 2FA: send `totp_code` or `recovery_code`."""

    code = "mfa_required"


class SecondFactorFailed(Unauthorized):
    """A wrong, replayed or spent code; counts as a failed login (R9, R15)."""

    code = "invalid_mfa_code"

    def __init__(self, reason: str) -> None:
        super().__init__("The code is wrong or was already used.")
        self.reason = reason


def _normalize_recovery(code: str) -> str:
    return code.replace("-", "").replace(" ", "").lower()


def _check_totp(user: User, seed: str, code: str, accounts: AccountStore = accounts_dal) -> None:
    code = code.strip()
    if not (code.isascii() and code.isdigit()):
        raise SecondFactorFailed("totp_invalid")  # e.g. Arabic-Indic digits: no TOTP code, never a 500
    last = None if user.totp_last_step is None else int(user.totp_last_step)
    step = totp.matching_step(seed, code, after_step=last)
    if step is None:
        # Would it have matched without the "strictly later" rule? Then it is a replay (R14), worth its own reason.
        replay = totp.matching_step(seed, code, after_step=None) is not None
        raise SecondFactorFailed("totp_replay" if replay else "totp_invalid")
    if not accounts.spend_totp_step(user, step):
        raise SecondFactorFailed("totp_replay")  # a concurrent request spent this step first


def _check_recovery_code(user: User, code: str, meta: RequestMeta, accounts: AccountStore) -> None:
    wanted = _normalize_recovery(code)
    stored = list(user.recovery_codes or [])
    version = user.recovery_pepper_version or ""
    for index, phc in enumerate(stored):
        if passwords.verify(wanted, passwords.StoredPassword(phc=phc, pepper_version=version)):
            if not accounts.spend_recovery_code(user, index, phc):
                break
            audit.record(
                account_id=user.account_id,
                type="mfa.recovery_code_used",
                outcome="success",
                actor=user.user_id,
                meta=meta,
                data={"remaining": len(stored) - 1},
            )
            notices.notify(user, "recovery_code_used")
            return
    raise SecondFactorFailed("recovery_code_invalid")


def verify_second_factor(
    user: User,
    *,
    totp_code: str | None,
    recovery_code: str | None,
    meta: RequestMeta,
    accounts: AccountStore = accounts_dal,
) -> str:
    """Check the second factor of a user with 2FA on; the factor used, or MfaRequired / SecondFactorFailed."""
    if totp_code:
        _check_totp(user, accounts.open_field(user, "totp_seed"), totp_code, accounts)
        return "totp"
    if recovery_code:
        _check_recovery_code(user, recovery_code, meta, accounts)
        return "recovery_code"
    raise MfaRequired("Two-factor authentication is on: send totp_code (or a recovery_code).")


def enrol(principal: Principal, meta: RequestMeta) -> TotpEnrolOut:
    """Create a pending seed (sealed); 2FA stays off until a code activates it (R16)."""
    from switchboard.models.identity import TotpEnrolOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    user = _user(principal)
    if user.mfa_enabled:
        raise Conflict("Two-factor authentication is already on; turn it off first.", code="mfa_already_enabled")
    seed = totp.new_seed()
    accounts_dal.update_user(user, totp_pending=accounts_dal.seal(user, "totp_pending", seed))
    audit.record(account_id=user.account_id, type="mfa.enrolled", outcome="success", actor=user.user_id, meta=meta)
    return TotpEnrolOut(secret=seed, otpauth_uri=totp.provisioning_uri(seed, email=notices.email_of(user)))


def activate(principal: Principal, code: str, meta: RequestMeta) -> RecoveryCodesOut:
    """Turn 2FA on with a valid code from the pending seed; ten recovery codes, shown once (R17)."""
    from switchboard.models.identity import RecoveryCodesOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    user = _user(principal)
    if user.mfa_enabled or not user.totp_pending:
        raise Conflict("Start enrolment at POST /v1/me/mfa/totp first.", code="mfa_not_enrolling")
    seed = accounts_dal.open_field(user, "totp_pending")
    try:
        _check_totp(user, seed, code)
    except SecondFactorFailed:
        raise ValidationFailed(
            "The code does not match; check the authenticator app's clock.",
            code="invalid_mfa_code",
            errors=[{"pointer": "/code", "message": "wrong or already used code"}],
        ) from None
    codes = totp.new_recovery_codes()
    hashed = [passwords.hash_password(c) for c in codes]
    accounts_dal.update_user(
        user,
        totp_seed=accounts_dal.seal(user, "totp_seed", seed),
        totp_pending=None,
        mfa_enabled=True,
        recovery_codes=tuple(h.phc for h in hashed),
        recovery_pepper_version=hashed[0].pepper_version,
    )
    audit.record(account_id=user.account_id, type="mfa.activated", outcome="success", actor=user.user_id, meta=meta)
    notices.notify(user, "mfa_activated")
    return RecoveryCodesOut(recovery_codes=codes)


def _new_recovery_codes() -> tuple[list[str], dict[str, Any]]:
    codes = totp.new_recovery_codes()
    hashed = [passwords.hash_password(c) for c in codes]
    changes = {"recovery_codes": tuple(h.phc for h in hashed), "recovery_pepper_version": hashed[0].pepper_version}
    return codes, changes


def regenerate_recovery_codes(principal: Principal, code: str, meta: RequestMeta) -> RecoveryCodesOut:
    """POST /v1/me/mfa/recovery-codes: a recent login and a current TOTP code; ten new codes, the old set dies (R17).

    The code is checked in an admitted login attempt: a wrong one counts toward the lockout like any second factor
    (R9, R15), and its time step is spent (R14).
    """
    from switchboard.logic import sessions, throttle  # noqa: PLC0415 - sessions imports this module
    from switchboard.models.identity import RecoveryCodesOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    user = _user(principal)
    if not user.mfa_enabled:
        raise Conflict("Two-factor authentication is not on.", code="mfa_not_enabled")
    with throttle.attempt(user.email_index, meta.source_ip) as attempt:
        try:
            _check_totp(user, accounts_dal.open_field(user, "totp_seed"), code)
        except SecondFactorFailed as failure:
            sessions.count_failure(user, meta, reason=failure.reason, attempt=attempt)
            raise
        codes, changes = _new_recovery_codes()
        # Replaces the whole list at once: no code of the old set survives, whichever was spent meanwhile.
        accounts_dal.update_user(user, **changes)
    audit.record(
        account_id=user.account_id,
        type="mfa.recovery_codes_regenerated",
        outcome="success",
        actor=user.user_id,
        meta=meta,
        data={"count": len(codes)},
    )
    notices.notify(user, "recovery_codes_regenerated")
    return RecoveryCodesOut(recovery_codes=codes)


def disable(principal: Principal, password: str, code: str, meta: RequestMeta) -> None:
    """Turn 2FA off with the password and a current code or a recovery code (R16)."""
    from switchboard.logic import sessions  # noqa: PLC0415 - sessions imports this module

    user = _user(principal)
    if not user.mfa_enabled:
        raise Conflict("Two-factor authentication is not on.", code="mfa_not_enabled")
    looks_like_totp = code.strip().isdigit() and len(code.strip()) == totp.DIGITS
    with sessions.password_attempt(user, password, meta):
        verify_second_factor(
            user,
            totp_code=code if looks_like_totp else None,
            recovery_code=None if looks_like_totp else code,
            meta=meta,
        )
    accounts_dal.update_user(
        user, mfa_enabled=False, totp_seed=None, totp_pending=None, recovery_codes=None, recovery_pepper_version=None
    )
    audit.record(account_id=user.account_id, type="mfa.disabled", outcome="success", actor=user.user_id, meta=meta)
    notices.notify(user, "mfa_disabled")


def _user(principal: Principal) -> User:
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is None:
        raise NotFound("No such user.")
    return user
