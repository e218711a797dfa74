"""Account e-mails: verification and reset links, and security notices (R11) that never carry a secret."""

from __future__ import annotations

from switchboard import mail, settings
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import User
from switchboard.models.permissions import Role

_NOTICES: dict[str, tuple[str, str]] = {
    "signup_existing": (
        "Someone tried to sign up with your e-mail",
        "Someone tried to create a Switchboard account with this e-mail address, which already has one. If it was "
        "you, log in or reset your password. Otherwise you can ignore this message.",
    ),
    "lockout": (
        "Logins to your account are paused",
        "There were too many failed login attempts for your account, so logins are paused for 15 minutes. If this "
        "was not you, consider changing your password.",
    ),
    "login_after_failures": (
        "New login after failed attempts",
        "Your account was logged into after several failed attempts. If this was not you, reset your password.",
    ),
    "reset_required": (
        "Reset your password to log in again",
        "After many consecutive failed login attempts your account requires a password reset before the next "
        "login. Use 'Forgot password' to choose a new one.",
    ),
    "password_changed": (
        "Your password was changed",
        "The password of your Switchboard account was changed and your other sessions were ended. If this was "
        "not you, reset your password now.",
    ),
    "password_reset": (
        "Your password was reset",
        "The password of your Switchboard account was reset and every session was ended.",
    ),
    "mfa_activated": (
        "Two-factor authentication is on",
        "Two-factor authentication (TOTP) was turned on for your account.",
    ),
    "mfa_disabled": (
        "Two-factor authentication is off",
        "Two-factor authentication (TOTP) was turned off for your account. If this was not you, reset your "
        "password and turn it on again.",
    ),
    "api_key_created": (
        "A new API key was created",
        "A new API key was created (or rotated) in your Switchboard account. If this was not you, revoke it under "
        "API keys and change your password. Further keys created within the hour are not e-mailed one by one: the "
        "API keys list shows every key with its creation time.",
    ),
    "recovery_codes_regenerated": (
        "New recovery codes were made",
        "A new set of two-factor recovery codes was made for your account; the previous codes no longer work. If "
        "this was not you, reset your password and turn two-factor authentication off and on again.",
    ),
    "recovery_code_used": (
        "A recovery code was used",
        "One of your two-factor recovery codes was used to log in. It cannot be used again.",
    ),
}


def email_of(user: User) -> str:
    """The user's e-mail address, opened from its sealed field."""
    return accounts_dal.open_field(user, "email")


# Notices a caller can trigger at will count against their own per-recipient limit (switchboard.logic.mailer), so
# a burst of them (150 API keys in 22 s) neither floods the inbox nor uses up the limit other notices share.
_OWN_LIMIT: frozenset[str] = frozenset({"api_key_created"})


def notify(user: User, kind: str) -> None:
    """Send one security notice of `kind` to the user."""
    subject, body = _NOTICES[kind]
    limit = kind if kind in _OWN_LIMIT else "notice"
    mail.send(mail.Email(to=email_of(user), subject=f"Switchboard: {subject}", body=body, kind=limit))


def owners(account_id: str) -> list[User]:
    """The account's owners."""
    return [u for u in members_dal.users(account_id) if u.role == Role.OWNER.value]


def tell_owners(account_id: str, subject: str, body: str, *, kind: str = "notice") -> int:
    """One e-mail to every owner of the account (while its data key still opens their addresses); how many."""
    owners_now = owners(account_id)
    for owner in owners_now:
        mail.send(mail.Email(to=email_of(owner), subject=f"Switchboard: {subject}", body=body, kind=kind))
    return len(owners_now)


def send_link(to: str, *, kind: str, token: str) -> None:
    """A single-use link: e-mail verification or password reset (`?token=` is what the outbox reads)."""
    config = settings.get()
    console, api = config.console_base_url.rstrip("/"), config.public_base_url.rstrip("/")
    if kind == "verify":
        subject = "Switchboard: verify your e-mail"
        body = (
            f"Confirm your e-mail address within 24 hours: {console}/verify-email?token={token}\n"
            f'(API: POST {api}/v1/email-verifications with {{"token": "{token}"}})\n'
            "Confirming sets the password chosen in the signup this link was sent for. If you did not sign up for "
            "Switchboard, ignore this message: without confirmation no account is usable."
        )
    else:
        subject = "Switchboard: reset your password"
        body = (
            f"Choose a new password within 30 minutes: {console}/reset-password?token={token}\n"
            f'(API: POST {api}/v1/password-resets/confirm with {{"token": "{token}", "new_password": "..."}})\n'
            "If you did not ask for this, ignore this message: your password stays the same."
        )
    mail.send(mail.Email(to=to, subject=subject, body=body, kind=kind))
