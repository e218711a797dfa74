"""Tokens, API-key format and TOTP on the platform clock (R12, R13, R17, R19, R26)."""

import base64
import re
import urllib.parse

from switchboard import clock, ids
from switchboard.crypto import tokens, totp


def test_session_tokens_are_256_bit_and_unique() -> None:
    made = {tokens.new_token(tokens.SESSION_PREFIX) for _ in range(200)}
    assert len(made) == 200
    for token in made:
        assert re.fullmatch(r"sbs_[A-Za-z0-9_-]{43}", token)


def test_digest_is_sha256_hex_and_never_the_token() -> None:
    token = tokens.new_token()
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest(token))
    assert token not in tokens.digest(token)


def test_api_key_format_round_trips() -> None:
    key_id = ids.new_id("key")
    key, parts = tokens.new_api_key("test", key_id)
    assert key.startswith(f"sb_test_{key_id}_")
    assert tokens.parse_api_key(key) == parts
    assert len(base64.urlsafe_b64decode(parts.secret + "=")) == 32
    assert tokens.parse_api_key(key[:-1]) is None
    assert tokens.parse_api_key("sb_prod_" + key[8:]) is None


def test_totp_seed_is_160_bits_and_uri_is_explicit() -> None:
    seed = totp.new_seed()
    assert len(base64.b32decode(seed)) == 20
    assert seed != totp.new_seed()
    uri = urllib.parse.urlparse(totp.provisioning_uri(seed, email="jane@example.com"))
    query = urllib.parse.parse_qs(uri.query)
    assert uri.scheme == "otpauth"
    assert query["issuer"] == ["Switchboard"]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]


def test_totp_accepts_one_step_either_side_and_no_further() -> None:
    seed = totp.new_seed()
    now = totp.current_step()
    assert totp.matching_step(seed, totp.code_at_step(seed, now), after_step=None) == now
    assert totp.matching_step(seed, totp.code_at_step(seed, now - 1), after_step=None) == now - 1
    assert totp.matching_step(seed, totp.code_at_step(seed, now + 1), after_step=None) == now + 1
    for far in (now - 2, now + 2):
        code = totp.code_at_step(seed, far)
        if code not in {totp.code_at_step(seed, s) for s in (now - 1, now, now + 1)}:
            assert totp.matching_step(seed, code, after_step=None) is None


def test_totp_never_accepts_a_step_at_or_before_the_last_accepted_one() -> None:
    seed = totp.new_seed()
    now = totp.current_step()
    code = totp.code_at_step(seed, now)
    assert totp.matching_step(seed, code, after_step=now) is None
    assert totp.matching_step(seed, totp.code_at_step(seed, now - 1), after_step=now) is None


def test_totp_follows_the_platform_clock() -> None:
    seed = totp.new_seed()
    code = totp.code_at_step(seed, totp.current_step())
    clock.advance(120)
    assert totp.matching_step(seed, code, after_step=None) is None


def test_totp_rejects_malformed_codes() -> None:
    seed = totp.new_seed()
    assert totp.matching_step(seed, "12345", after_step=None) is None
    assert totp.matching_step(seed, "abcdef", after_step=None) is None


def test_recovery_codes_are_ten_distinct_50_bit_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{10}", code) for code in codes)
