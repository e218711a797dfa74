"""The pure parts of the request guards: Idempotency-Key parsing, request fingerprints, reporting the tighter limit."""

import pytest

from switchboard.logic import idempotency, ratelimit
from switchboard.models.errors import BadRequest


def test_idempotency_key_from_reads_either_header_shape_case_insensitively() -> None:
    assert idempotency.key_from({"headers": {"idempotency-KEY": "abc"}}) == "abc"
    assert idempotency.key_from({"headers": None, "multiValueHeaders": {"Idempotency-Key": ["xyz", "2nd"]}}) == "xyz"
    assert idempotency.key_from({"headers": {"Accept": "application/json"}}) is None
    assert idempotency.key_from({}) is None


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "new\nline", "caf\u00e9", "a b"])
def test_idempotency_key_from_refuses_keys_outside_visible_ascii(key: str) -> None:
    with pytest.raises(BadRequest) as raised:
        idempotency.key_from({"headers": {"Idempotency-Key": key}})
    assert raised.value.instance_code == "invalid_idempotency_key"


def test_idempotency_fingerprint_changes_with_each_part() -> None:
    base = {"principal": "key_1", "method": "POST", "path": "/v1/messages", "body": '{"to":"+14155550100"}'}
    reference = idempotency.fingerprint(**base)
    assert idempotency.fingerprint(**base) == reference
    assert idempotency.fingerprint(**{**base, "method": "post"}) == reference
    for part, other in (("principal", "key_2"), ("path", "/v1/broadcasts"), ("body", '{"to":"+14155550101"}')):
        assert idempotency.fingerprint(**{**base, part: other}) != reference
    assert idempotency.fingerprint(**{**base, "body": None}) == idempotency.fingerprint(**{**base, "body": ""})


def test_ratelimit_tighter_prefers_a_refusal_then_fewer_remaining() -> None:
    roomy = ratelimit.Decision(allowed=True, limit=40, remaining=30, reset_s=1)
    tight = ratelimit.Decision(allowed=True, limit=20, remaining=2, reset_s=2)
    refused = ratelimit.Decision(allowed=False, limit=40, remaining=0, reset_s=2, retry_after_s=1)
    assert ratelimit.tighter(roomy, tight) is tight
    assert ratelimit.tighter(tight, roomy) is tight
    assert ratelimit.tighter(tight, refused) is refused
    assert "Retry-After" not in tight.headers()
    assert refused.headers()["Retry-After"] == "1"
