"""Switchboard-Signature exactly as API.md writes it, and the receiver-side verifier customers can copy."""

import hashlib
import hmac

from switchboard.logic.webhooks import sign, verify_signature

SECRET = "whsec_3q2-7w"
BODY = b'{"id":"evt_1","type":"message.status","data":{"status":"delivered"}}'


def test_sign_is_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_verify_signature_accepts_a_fresh_signature() -> None:
    header = sign(SECRET, 1700000000, BODY)
    assert verify_signature(SECRET, header, BODY, now=1700000000 + 299)
    assert verify_signature(SECRET, header, BODY, now=1700000000 - 10)


def test_verify_signature_refuses_old_timestamps() -> None:
    header = sign(SECRET, 1700000000, BODY)
    assert not verify_signature(SECRET, header, BODY, now=1700000000 + 301)
    assert verify_signature(SECRET, header, BODY, now=1700000000 + 301, tolerance=600)


def test_verify_signature_refuses_a_changed_body_secret_or_timestamp() -> None:
    header = sign(SECRET, 1700000000, BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"delivered", b"delivereD"), now=1700000000)
    assert not verify_signature("whsec_other", header, BODY, now=1700000000)
    moved = header.replace("t=1700000000", "t=1700000001")
    assert not verify_signature(SECRET, moved, BODY, now=1700000000)


def test_verify_signature_accepts_any_of_several_v1_values() -> None:
    old = sign("whsec_old", 1700000000, BODY).partition(",")[2]
    header = f"{sign(SECRET, 1700000000, BODY)},{old}"
    assert verify_signature(SECRET, header, BODY, now=1700000000)
    assert verify_signature("whsec_old", header, BODY, now=1700000000)
    assert not verify_signature("whsec_third", header, BODY, now=1700000000)


def test_verify_signature_refuses_malformed_headers() -> None:
    for header in ("", "v1=abc", "t=1700000000", "t=soon,v1=abc", "garbage"):
        assert not verify_signature(SECRET, header, BODY, now=1700000000)
