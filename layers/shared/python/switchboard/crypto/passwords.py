"""Passwords: NIST/ASVS length policy, blocklists, Argon2id with a versioned pepper, and rehash on login."""

from __future__ import annotations

import base64
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from hashlib import sha256

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from switchboard.crypto import blocklist, secrets
from switchboard.models.errors import ValidationFailed

MIN_LENGTH = 15
MAX_LENGTH = 256
SALT_BYTES = 16
HASH_BYTES = 32
PEPPER_ENV = "PEPPERS_SECRET"


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


def _reject(reason: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=f"password_{reason}", errors=[{"pointer": "/password", "message": message}])


def check_policy(password: str, *, context: tuple[str, ...] = (), pointer: str = "/password") -> None:
    """Refuse passwords that are too short/long, common, or built from the product, account or e-mail names."""
    normalized = normalize(password)
    length = len(normalized)
    if length < MIN_LENGTH:
        raise _with_pointer(_reject("too_short", f"Use at least {MIN_LENGTH} characters."), pointer)
    if length > MAX_LENGTH:
        raise _with_pointer(_reject("too_long", f"Use at most {MAX_LENGTH} characters."), pointer)
    folded = normalized.casefold()
    if folded in blocklist.common_passwords():
        raise _with_pointer(_reject("common", "This password is on a list of common passwords."), pointer)
    words = {w.casefold() for w in ("switchboard", *context) if len(w) >= 4}
    stripped = re.sub(r"[^a-z]", "", folded)
    for word in words:
        letters = re.sub(r"[^a-z]", "", word)
        if letters and len(letters) >= 4 and letters in stripped and len(stripped) - len(letters) < 6:
            raise _with_pointer(
                _reject("context", "This password is too close to your name, e-mail or account name."), pointer
            )


def _with_pointer(error: ValidationFailed, pointer: str) -> ValidationFailed:
    for entry in error.extra["errors"]:
        entry["pointer"] = pointer
    return error


def _pepper(version: str | None = None) -> tuple[str, bytes]:
    peppers = secrets.get_json(PEPPER_ENV)
    versions = sorted((k for k in peppers if k.startswith("password_v")), key=lambda k: int(k.rsplit("v", 1)[1]))
    chosen = version or versions[-1]
    return chosen, base64.urlsafe_b64decode(peppers[chosen] + "=" * (-len(peppers[chosen]) % 4))


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
    latest, _ = _pepper()
    return (memory, iterations, lanes) != (CURRENT.memory_kib, CURRENT.iterations, CURRENT.lanes) or (
        stored.pepper_version != latest
    )
