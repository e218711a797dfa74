"""Passwords: NIST/ASVS length policy, screening (zxcvbn, Pwned Passwords), Argon2id with a pepper, and rehash."""

from __future__ import annotations

import hmac
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from hashlib import sha256
from typing import Any

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from switchboard import settings
from switchboard.crypto import breached, peppers
from switchboard.models.errors import ValidationFailed

MIN_LENGTH = 15
MAX_LENGTH = 256
SALT_BYTES = 16
HASH_BYTES = 32
PEPPER_ENV = peppers.ENV


@dataclass(frozen=True)
class Argon2Params:
    """OWASP's first Argon2id row: m = 19 MiB, t = 2, p = 1."""

    memory_kib: int = 19456
    iterations: int = 2
    lanes: int = 1


CURRENT = Argon2Params()
_PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


@dataclass(frozen=True)
class StoredPassword:
    """What the users table keeps: the PHC string and which pepper version keyed it."""

    phc: str
    pepper_version: str


def normalize(password: str) -> str:
    """NFKC, nothing else: no trimming, case folding or truncation (ASVS V6.2)."""
    return unicodedata.normalize("NFKC", password)


# Separators, controls, format characters (zero-width space, bidi marks), unassigned and private-use code points,
# combining marks on their own, and the letters that render as blanks (Hangul fillers, braille blank).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def visible(password: str) -> str:
    """The characters of the normalised password that a reader sees: what the length rule counts (R1)."""
    return "".join(
        c
        for c in normalize(password)
        if not c.isspace() and unicodedata.category(c) not in _INVISIBLE_CATEGORIES and c not in _BLANK_LETTERS
    )


# Passphrases made famous as examples of good passwords: the first thing an attacker's phrase list tries.
FAMOUS_PHRASES = (
    "correct horse battery staple",
    "correcthorsebatterystaple",
    "tr0ub4dor&3",
    "the quick brown fox jumps over the lazy dog",
    "lorem ipsum dolor sit amet",
    "to be or not to be that is the question",
    "may the force be with you",
    "all your base are belong to us",
    "i solemnly swear that i am up to no good",
    "open sesame",
    "hello world",
    "let me in let me in",
    "one ring to rule them all",
    "winter is coming",
    "the cake is a lie",
    "hunter2",
)
_PHRASE_SLACK = 6  # a famous phrase plus fewer visible characters than this is still that phrase

# zxcvbn's estimate of the guesses an attacker with its lists (30,000 common passwords, 30,000 English words, names,
# films and TV) and its patterns (keyboard walks, sequences, repeats, dates, l33t) needs. 10^10 is its top band:
# safe against an offline attack on a slow hash; our Argon2id makes each guess cost ~100 ms of a CPU.
MIN_GUESSES = 10**10
_ZXCVBN_MAX = 72  # zxcvbn refuses longer input; a password longer than this is not weak by being guessable
_UNSHIFT = str.maketrans('!@#$%^&*()_+{}|:"<>?~', "1234567890-=[]\\;',./`")
_zxcvbn_lock = threading.Lock()  # zxcvbn keeps the user_inputs dictionary in module state

_REASONS = {
    "spatial": "It is a keyboard pattern (like qwerty or 1qaz2wsx).",
    "sequence": "It is a sequence (like 0123456789 or abcdef).",
    "repeat": "It repeats characters or a short pattern.",
    "date": "It is mostly a date.",
    "dictionary": "It is built from very common passwords or words.",
}


def _reject(reason: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=f"password_{reason}", errors=[{"pointer": "/password", "message": message}])


def _folded_letters(text: str) -> str:
    return re.sub(r"[^\w]|_", "", text.casefold())


def _famous(seen: str) -> bool:
    folded = _folded_letters(seen)
    for phrase in FAMOUS_PHRASES:
        key = _folded_letters(phrase)
        # The phrase, said once or repeated, with fewer than _PHRASE_SLACK other characters around it.
        if key and key in folded and len(folded.replace(key, "")) < _PHRASE_SLACK:
            return True
    return False


def _estimate(seen: str, context: tuple[str, ...]) -> tuple[float, list[dict[str, Any]]]:
    import zxcvbn  # type: ignore[import-untyped]  # noqa: PLC0415 - 0.8 MB of lists, loaded on first use only

    inputs = [w for w in context if w]
    # The shifted digit row is the same walk as the digits (!QAZ@WSX is 1qaz2wsx with Shift held): try both.
    unshifted = seen.translate(_UNSHIFT).lower()
    with _zxcvbn_lock:
        results = [zxcvbn.zxcvbn(text[:_ZXCVBN_MAX], user_inputs=inputs) for text in {seen, unshifted}]
    weakest = min(results, key=lambda r: float(r["guesses"]))
    return float(weakest["guesses"]), list(weakest["sequence"])


def _why_weak(sequence: list[dict[str, Any]]) -> tuple[str, str]:
    """The reason code and message of a weak estimate: the pattern that covers most of the password."""
    main = max(sequence, key=lambda m: len(m.get("token", "")))
    if main.get("dictionary_name") == "user_inputs":
        return "context", "This password is too close to your name, e-mail or account name."
    pattern = str(main.get("pattern", "dictionary"))
    return "common", f"This password is too easy to guess. {_REASONS.get(pattern, _REASONS['dictionary'])}"


def check_policy(password: str, *, context: tuple[str, ...] = (), pointer: str = "/password") -> None:
    """Refuse passwords that are too short/long, guessable, breached, or built from the product, account or e-mail.

    Length counts visible characters after NFKC (spaces and invisible characters do not make a password longer);
    the screening looks at those characters only, so padding with spaces or zero-width characters changes nothing.
    Each refusal names its reason (`password_too_short`, `_too_long`, `_common`, `_context`, `_breached`).
    """
    normalized = normalize(password)
    seen = visible(password)
    if len(seen) < MIN_LENGTH:
        raise _with_pointer(
            _reject("too_short", f"Use at least {MIN_LENGTH} visible characters (spaces do not count)."), pointer
        )
    if len(normalized) > MAX_LENGTH:
        raise _with_pointer(_reject("too_long", f"Use at most {MAX_LENGTH} characters."), pointer)
    if _famous(seen):
        raise _with_pointer(_reject("common", "This is a famous example passphrase: attackers try it first."), pointer)
    words = tuple(w for w in ("switchboard", *context) if len(w) >= 4)
    folded = seen.casefold()
    stripped = re.sub(r"[^a-z]", "", folded)
    for word in words:
        letters = re.sub(r"[^a-z]", "", word.casefold())
        if letters and len(letters) >= 4 and letters in stripped and len(stripped) - len(letters) < 6:
            raise _with_pointer(
                _reject("context", "This password is too close to your name, e-mail or account name."), pointer
            )
    guesses, sequence = _estimate(seen, tuple(w.casefold() for w in (*words, *(w.replace(" ", "") for w in words))))
    if guesses < MIN_GUESSES:
        raise _with_pointer(_reject(*_why_weak(sequence)), pointer)
    if breached.is_breached(normalized, url=settings.get().breached_passwords_url):
        raise _with_pointer(
            _reject("breached", "This password appeared in a data breach; choose one that never did."), pointer
        )


def _with_pointer(error: ValidationFailed, pointer: str) -> ValidationFailed:
    for entry in error.extra["errors"]:
        entry["pointer"] = pointer
    return error


def _pepper(version: str | None = None) -> tuple[str, bytes]:
    # `version` is the one a stored hash names (it verifies while the secret keeps it); None is the newest.
    return peppers.versioned("password", version)


def _keyed(password: str, pepper: bytes) -> bytes:
    # The pepper (Secrets Manager, never DynamoDB) makes a stolen table useless without the secret.
    return hmac.new(pepper, normalize(password).encode(), sha256).digest()


def _argon(params: Argon2Params, salt: bytes) -> Argon2id:
    return Argon2id(
        salt=salt, length=HASH_BYTES, iterations=params.iterations, lanes=params.lanes, memory_cost=params.memory_kib
    )


def hash_password(password: str) -> StoredPassword:
    """Argon2id(HMAC(pepper, NFKC(password))) as a PHC string, with the current pepper version."""
    version, pepper = _pepper()
    phc = _argon(CURRENT, os.urandom(SALT_BYTES)).derive_phc_encoded(_keyed(password, pepper))
    return StoredPassword(phc=phc, pepper_version=version)


def verify(password: str, stored: StoredPassword) -> bool:
    """Constant-time verification through the library's PHC verify."""
    _, pepper = _pepper(stored.pepper_version)
    try:
        Argon2id.verify_phc_encoded(_keyed(password, pepper), stored.phc)
    except InvalidKey:
        return False
    return True


@cache
def _dummy() -> str:
    return _argon(CURRENT, b"\0" * SALT_BYTES).derive_phc_encoded(b"no user has this password")


def burn_equal_time(password: str) -> None:
    """Spend one Argon2id verify for an unknown e-mail, so timing does not reveal which accounts exist."""
    try:
        Argon2id.verify_phc_encoded(normalize(password).encode(), _dummy())
    except InvalidKey:
        return


def needs_rehash(stored: StoredPassword) -> bool:
    """True when the stored hash is weaker than CURRENT or used an older pepper version."""
    match = _PHC.match(stored.phc)
    if match is None:
        return True
    memory, iterations, lanes = (int(g) for g in match.groups())
    latest = peppers.current("password")
    return (memory, iterations, lanes) != (CURRENT.memory_kib, CURRENT.iterations, CURRENT.lanes) or (
        stored.pepper_version != latest
    )
