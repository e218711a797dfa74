"""TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) on the platform clock, and recovery codes."""

from __future__ import annotations

import secrets as pysecrets

import pyotp

from switchboard import clock

STEP_S = 30
DIGITS = 6
WINDOW = 1  # one step either side (RFC 6238 §5.2); each step is spent once, see matching_step
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case


def new_seed() -> str:
    """A 160-bit seed, base32 (32 characters)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(seed: str, *, email: str, issuer: str = "Switchboard") -> str:
    """The otpauth:// URI an authenticator app scans."""
    uri: str = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_S).provisioning_uri(name=email, issuer_name=issuer)
    # pyotp omits defaults; authenticators and auditors want them explicit.
    for param in (f"digits={DIGITS}", f"period={STEP_S}", "algorithm=SHA1"):
        if param.split("=")[0] + "=" not in uri:
            uri += f"&{param}"
    return uri


def current_step() -> int:
    """The time step of the platform clock (TOTP is computed from the server's clock only)."""
    return int(clock.timestamp()) // STEP_S


def code_at_step(seed: str, step: int) -> str:
    """The code of one time step (tests and the local stack's helpers)."""
    code: str = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_S).at(step * STEP_S)
    return code


def matching_step(seed: str, code: str, *, after_step: int | None) -> int | None:
    """The step in the ±1 window whose code equals `code` and is later than the last accepted one, else None."""
    # ASCII digits only: Arabic-Indic digits are digits to str.isdigit(), and compare_digest raises on non-ASCII str.
    if not (code.isascii() and code.isdigit() and len(code) == DIGITS):
        return None
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_S)
    now_step = current_step()
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if after_step is not None and step <= after_step:
            continue
        if pysecrets.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten single-use codes of 10 base32 characters (50 bits), shown once, stored Argon2id-hashed."""
    return ["".join(pysecrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
