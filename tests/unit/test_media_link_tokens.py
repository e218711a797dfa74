"""Media link tokens (crypto.media_links): what a token binds, and every malformed or tampered spelling refused."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import string

import pytest

from switchboard.crypto import media_links as tokens

DATA_KEY = bytes(range(32))
KEY = tokens.link_key(DATA_KEY)
CLAIMS = tokens.LinkClaims(
    account_id="acct_01m8xsakf6yx1n38mnfask5z8k",
    file_id="fil_01m8xsam8pq568pvq3mgkf02bf",
    message_id="msg_01m8xsamsddng350n9zjyys8rf",
    carrier="twilio",
    expires_at=1_800_000_000,
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verified(token: str, key: bytes = KEY) -> tokens.LinkClaims | None:
    parsed = tokens.parse(token)
    return parsed.claims if parsed is not None and tokens.authentic(key, parsed) else None


def test_a_minted_token_states_its_claims_and_verifies_under_the_accounts_key() -> None:
    token = tokens.mint(KEY, CLAIMS)
    assert verified(token) == CLAIMS
    assert len(token) <= tokens.MAX_TOKEN_CHARS
    # The key is HKDF-SHA256 of the data key with the documented info, and the MAC HMAC-SHA256 over the payload.
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert (
        raw
        == b"1|"
        + "|".join(
            (CLAIMS.account_id, CLAIMS.file_id, CLAIMS.message_id, CLAIMS.carrier, str(CLAIMS.expires_at))
        ).encode()
    )
    assert b64(hmac.new(KEY, raw, hashlib.sha256).digest()) == mac


def test_another_accounts_key_verifies_nothing() -> None:
    token = tokens.mint(KEY, CLAIMS)
    assert verified(token, tokens.link_key(bytes(32))) is None
    assert tokens.link_key(DATA_KEY) != tokens.link_key(bytes(reversed(DATA_KEY)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", "acct_01m8xsakf6yx1n38mnfask5z8j"),
        ("file_id", "fil_01m8xsam8pq568pvq3mgkf02bg"),
        ("message_id", "msg_01m8xsamsddng350n9zjyys8rg"),
        ("carrier", "plivo"),
        ("expires_at", 1_800_000_001),
    ],
)
def test_changing_any_claim_under_the_same_mac_is_refused(field: str, value: object) -> None:
    good = tokens.mint(KEY, CLAIMS)
    changed = tokens.mint(KEY, dataclasses.replace(CLAIMS, **{field: value}))
    forged = changed.split(".")[0] + "." + good.split(".")[1]
    assert tokens.parse(forged) is not None  # well-formed: only the MAC refuses it
    assert verified(forged) is None


def test_a_flipped_mac_bit_is_refused() -> None:
    payload, mac = tokens.mint(KEY, CLAIMS).split(".")
    raw = bytearray(base64.urlsafe_b64decode(mac + "="))
    raw[-1] ^= 1
    assert verified(f"{payload}.{b64(bytes(raw))}") is None


def _payload(text: str) -> str:
    return b64(text.encode())


MAC = b64(bytes(32))
GOOD_PAYLOAD = tokens.mint(KEY, CLAIMS).split(".")[0]
NOT_ASCII = b64(b"1|acct_a|fil_b|msg_c|twilio|18\xff")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        f"{GOOD_PAYLOAD}",
        f"{GOOD_PAYLOAD}.{MAC}.{MAC}",
        f"{GOOD_PAYLOAD}=.{MAC}",  # padding is not our spelling
        f"{GOOD_PAYLOAD}.{MAC}=",
        f"{GOOD_PAYLOAD.replace('-', '+').replace('_', '/')}+.{MAC}",  # standard alphabet
        f"{GOOD_PAYLOAD}.{b64(bytes(31))}",  # short MAC
        f"{GOOD_PAYLOAD}.{b64(bytes(33))}",
        f"{GOOD_PAYLOAD} .{MAC}",
        f"{GOOD_PAYLOAD}.{MAC[:-1]}B",  # non-canonical trailing bits decode to the same bytes
        "A" * 300 + "." + MAC,  # oversized
        f"{_payload('2|acct_a|fil_b|msg_c|twilio|1800000000')}.{MAC}",  # another version
        f"{_payload('1|acct_a|fil_b|msg_c|twilio')}.{MAC}",  # a field missing
        f"{_payload('1|acct_a|fil_b|msg_c|twilio|1800000000|x')}.{MAC}",  # one too many
        f"{_payload('1|usr_a|fil_b|msg_c|twilio|1800000000')}.{MAC}",  # not an account id
        f"{_payload('1|acct_a|rec_b|msg_c|twilio|1800000000')}.{MAC}",  # a recording is no sendable file
        f"{_payload('1|acct_a|fil_b|msg_c|Twilio|1800000000')}.{MAC}",
        f"{_payload('1|acct_a|fil_b|msg_c|twilio|-1')}.{MAC}",
        f"{_payload('1|acct_a|fil_b|msg_c|twilio|01800000000')}.{MAC}",
        f"{_payload('1|acct_a|fil_b|msg_c|twilio|١٨٠٠')}.{MAC}",  # non-ASCII digits
        f"{NOT_ASCII}.{MAC}",
    ],
)
def test_malformed_tokens_parse_to_nothing(token: str) -> None:
    assert tokens.parse(token) is None


def test_the_same_bytes_in_a_non_canonical_spelling_are_refused() -> None:
    payload, mac = tokens.mint(KEY, CLAIMS).split(".")
    # A 32-byte MAC is 43 characters whose last carries 2 unused bits: setting them keeps the bytes, not the token.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    index = alphabet.index(mac[-1])
    bumped = alphabet[index ^ 1]
    variant = f"{payload}.{mac[:-1]}{bumped}"
    assert base64.urlsafe_b64decode(variant.split(".")[1] + "=") == base64.urlsafe_b64decode(mac + "=")
    assert tokens.parse(variant) is None
