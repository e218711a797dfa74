"""Standard Webhooks signatures (R42): the spec's own example, both secret alphabets, several secrets at once."""

import base64
import secrets

from switchboard.logic import webhooks

# The example of the Standard Webhooks specification and its reference libraries' tests.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # pragma: allowlist secret - the spec's public example
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(signature: str, msg_id: str = SPEC_ID, timestamp: int = SPEC_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_specifications_example_is_signed_and_verified_as_the_spec_says() -> None:
    assert webhooks.standard_signature([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert webhooks.verify_standard(SPEC_SECRET, _headers(SPEC_SIGNATURE), SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_a_changed_body_id_timestamp_or_secret_or_an_old_timestamp_does_not_verify() -> None:
    now = SPEC_TIMESTAMP
    assert not webhooks.verify_standard(SPEC_SECRET, _headers(SPEC_SIGNATURE), SPEC_BODY + b" ", now)
    assert not webhooks.verify_standard(SPEC_SECRET, _headers(SPEC_SIGNATURE, msg_id="msg_other"), SPEC_BODY, now)
    moved = _headers(SPEC_SIGNATURE, timestamp=SPEC_TIMESTAMP + 1)
    assert not webhooks.verify_standard(SPEC_SECRET, moved, SPEC_BODY, now)
    other = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert not webhooks.verify_standard(other, _headers(SPEC_SIGNATURE), SPEC_BODY, now)
    assert not webhooks.verify_standard(SPEC_SECRET, _headers(SPEC_SIGNATURE), SPEC_BODY, now + 301)
    for broken in ("", "v1,", "v2," + SPEC_SIGNATURE[3:], SPEC_SIGNATURE[3:], "v1," + "A" * 44):
        assert not webhooks.verify_standard(SPEC_SECRET, _headers(broken), SPEC_BODY, now)


def test_several_secrets_give_one_signature_each_and_any_one_verifies() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    header = webhooks.standard_signature([new, old], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert len(header.split(" ")) == 2 and all(part.startswith("v1,") for part in header.split(" "))
    for secret in (new, old):
        assert webhooks.verify_standard(secret, _headers(header), SPEC_BODY, SPEC_TIMESTAMP)
    assert not webhooks.verify_standard(webhooks.new_secret(), _headers(header), SPEC_BODY, SPEC_TIMESTAMP)


def test_new_secrets_are_256_bits_of_standard_base64_and_older_base64url_secrets_still_have_a_key() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert webhooks.standard_key(secret) == base64.b64decode(secret[6:])
    legacy = "whsec_" + secrets.token_urlsafe(32)  # what endpoints got before rotation existed
    assert len(webhooks.standard_key(legacy)) == 32
    header = webhooks.standard_signature([legacy], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert webhooks.verify_standard(legacy, _headers(header), SPEC_BODY, SPEC_TIMESTAMP)
