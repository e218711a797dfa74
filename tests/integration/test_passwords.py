"""Password policy (R1, R2), Argon2id with a versioned pepper (R3, R4), and rehash on login."""

import base64
import json
import re
import secrets as pysecrets
from collections.abc import Iterator

import boto3
import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from switchboard import settings
from switchboard.crypto import passwords, secret_store
from switchboard.models.errors import ValidationFailed


@pytest.fixture(autouse=True)
def _stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A known stage (local: the breach check off, unless a test points it at a fake)."""
    monkeypatch.setenv("STAGE", "local")
    settings.reload()
    yield
    settings.reload()


@pytest.fixture
def peppers(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    value = {"password_v1": pysecrets.token_urlsafe(32)}
    arn = boto3.client("secretsmanager").create_secret(Name="peppers", SecretString=json.dumps(value))["ARN"]
    monkeypatch.setenv("PEPPERS_SECRET", arn)
    settings.reload()
    secret_store.forget()
    yield value
    secret_store.forget()


def add_pepper_version(peppers: dict[str, str], version: str) -> None:
    peppers[version] = pysecrets.token_urlsafe(32)
    boto3.client("secretsmanager").put_secret_value(SecretId="peppers", SecretString=json.dumps(peppers))
    secret_store.forget()


def reason(password: str, context: tuple[str, ...] = ()) -> str:
    with pytest.raises(ValidationFailed) as raised:
        passwords.check_policy(password, context=context)
    assert raised.value.extra["errors"][0]["pointer"] == "/password"
    return raised.value.instance_code


@pytest.mark.parametrize(
    "password",
    [
        "kxqvbnrtplmwzhd",  # 15 lower-case letters: no composition rule
        "pass phrase 🙂 ✓ with room",
        "lantern quasar velvet plumbing",
        "y7#Lq-Pz9!wK2&m" + "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(241)),
    ],
)
def test_policy_accepts_long_passphrases_without_composition_rules(password: str) -> None:
    passwords.check_policy(password[:256])


def test_policy_counts_code_points_after_nfkc() -> None:
    assert reason("ab🙂" * 4 + "x") == "password_too_short"  # 13 code points, 17 UTF-16 units
    passwords.check_policy("🙂🌵🚲🎻🦉🍋🧭🪁🌋🎲🦔🍄🧩🛶🌙")
    assert reason("q" * 257) == "password_too_long"


@pytest.mark.parametrize("password", ["passwordpassword", "Password12345678!", "qwertyuiopasdfghjklzxcvbnm", "1" * 20])
def test_policy_rejects_common_passwords(password: str) -> None:
    assert reason(password) == "password_common"


def test_policy_rejects_context_words() -> None:
    assert reason("AcmeWidgets2025!!!!!", context=("Acme Widgets", "jane.doe")) == "password_context"
    assert reason("jane.doe!!2025!!2025", context=("Acme Widgets", "jane.doe")) == "password_context"
    assert reason("Switchboard2026!!!!!") == "password_context"
    passwords.check_policy("acme is where I fix old pianos daily", context=("acme",))


def test_screening_refuses_3000_common_passwords_stretched_to_the_length_policy() -> None:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415 - the corpus the screening ships

    common = FREQUENCY_LISTS["passwords"][:3000]
    # The ways people stretch a favourite to pass a length rule: repeat it, add digit runs, a year and punctuation.
    stretch = [
        lambda p: (p * 4)[: max(15, len(p))] if len(p) >= 15 else (p * (15 // len(p) + 1)),
        lambda p: p + "1234567890123"[: max(0, 15 - len(p))] + "!",
        lambda p: p + "2024" + "!" * max(2, 15 - len(p) - 4),
    ]
    accepted = []
    for index, password in enumerate(common):
        candidate = stretch[index % len(stretch)](password)
        if len(passwords.visible(candidate)) < passwords.MIN_LENGTH:
            candidate = candidate * 3
        try:
            passwords.check_policy(candidate)
        except ValidationFailed:
            continue
        accepted.append(candidate)
    assert len(common) == 3000
    assert accepted == [], f"{len(accepted)} accepted, e.g. {accepted[:10]}"


def test_hash_is_argon2id_with_owasp_parameters_and_a_16_byte_salt(peppers: dict[str, str]) -> None:
    stored = passwords.hash_password("lantern quasar velvet plumbing")
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([^$]+)\$([^$]+)", stored.phc)
    assert match is not None
    memory, iterations, lanes = (int(g) for g in match.groups()[:3])
    assert (memory >= 19456 and iterations >= 2 and lanes == 1) or (memory >= 47104 and iterations == 1)
    salt = match.group(4)
    assert len(base64.b64decode(salt + "=" * (-len(salt) % 4))) >= 16
    assert stored.pepper_version == "password_v1"


def test_verify_exact_password_only(peppers: dict[str, str]) -> None:
    stored = passwords.hash_password("lantern quasar velvet plumbing")
    assert passwords.verify("lantern quasar velvet plumbing", stored)
    assert not passwords.verify("correct horse battery stapl", stored)
    assert not passwords.verify("CORRECT HORSE BATTERY STAPLE", stored)


def test_hash_depends_on_the_pepper(peppers: dict[str, str]) -> None:
    stored = passwords.hash_password("lantern quasar velvet plumbing")
    peppers["password_v1"] = pysecrets.token_urlsafe(32)  # the secret was replaced: old hashes no longer verify
    boto3.client("secretsmanager").put_secret_value(SecretId="peppers", SecretString=json.dumps(peppers))
    secret_store.forget()
    assert not passwords.verify("lantern quasar velvet plumbing", stored)


def test_old_pepper_version_still_verifies_and_asks_for_rehash(peppers: dict[str, str]) -> None:
    stored = passwords.hash_password("lantern quasar velvet plumbing")
    add_pepper_version(peppers, "password_v2")
    assert passwords.verify("lantern quasar velvet plumbing", stored)
    assert passwords.needs_rehash(stored)
    fresh = passwords.hash_password("lantern quasar velvet plumbing")
    assert fresh.pepper_version == "password_v2"
    assert not passwords.needs_rehash(fresh)


def test_weak_parameters_ask_for_rehash(peppers: dict[str, str]) -> None:
    _, pepper = passwords._pepper()
    weak = Argon2id(salt=b"s" * 16, length=32, iterations=1, lanes=1, memory_cost=8192).derive_phc_encoded(
        passwords._keyed("lantern quasar velvet plumbing", pepper)
    )
    stored = passwords.StoredPassword(phc=weak, pepper_version="password_v1")
    assert passwords.verify("lantern quasar velvet plumbing", stored)
    assert passwords.needs_rehash(stored)


def test_pepper_is_never_part_of_the_stored_hash(peppers: dict[str, str]) -> None:
    stored = passwords.hash_password("lantern quasar velvet plumbing")
    assert peppers["password_v1"] not in stored.phc
    assert "correct horse" not in stored.phc
