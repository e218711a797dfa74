"""Per-account envelope encryption: sealed fields are bound to their place, cheap on KMS, and shreddable."""

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag

from switchboard.crypto import envelope
from switchboard.dal import clients, keyring
from switchboard.dal.keys import account_pk

PLACE = {"table": "Messaging", "item_key": "ACCT#acct_a|MSG#msg_1", "field": "body"}


@pytest.fixture
def kms_calls(aws: dict[str, str]) -> list[str]:
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    clients.client("kms").meta.events.register("before-call.kms.*", count)
    return calls


def test_seal_round_trips_and_hides_the_plaintext(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    sealed = envelope.seal("acct_a", "Your code is 482913", **PLACE)
    assert sealed.startswith("sb1.")
    assert "482913" not in sealed
    assert envelope.open_sealed("acct_a", sealed, **PLACE) == "Your code is 482913"
    assert envelope.seal("acct_a", "same", **PLACE) != envelope.seal("acct_a", "same", **PLACE)


@pytest.mark.parametrize(
    ("account", "moved"),
    [
        ("acct_a", {"field": "name"}),
        ("acct_a", {"item_key": "ACCT#acct_a|MSG#msg_2"}),
        ("acct_a", {"table": "Accounts"}),
        ("acct_b", {}),
    ],
)
def test_sealed_value_moved_elsewhere_does_not_open(aws: dict[str, str], account: str, moved: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    envelope.create_key("acct_b")
    sealed = envelope.seal("acct_a", "+14155550100", **PLACE)
    with pytest.raises(InvalidTag):
        envelope.open_sealed(account, sealed, **{**PLACE, **moved})


def test_thousand_seals_cost_at_most_one_kms_call(aws: dict[str, str], kms_calls: list[str]) -> None:
    envelope.create_key("acct_a")
    envelope.forget_cached_keys()
    kms_calls.clear()
    sealed = [envelope.seal("acct_a", f"body {i}", **PLACE) for i in range(1000)]
    assert envelope.open_sealed("acct_a", sealed[-1], **PLACE) == "body 999"
    assert kms_calls == ["Decrypt"]


def test_data_key_is_wrapped_with_the_account_as_encryption_context(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    wrapped_a = keyring.get_wrapped("acct_a")
    assert wrapped_a is not None
    kms = boto3.client("kms")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=wrapped_a, EncryptionContext={"account_id": "acct_b"})
    # A wrapped key copied into another account's keyring row is useless there.
    keyring.KeyringItem(account_pk("acct_b"), keyring.KEY_SK, wrapped_key=wrapped_a).save()
    envelope.forget_cached_keys()
    with pytest.raises(ClientError, match="InvalidCiphertextException"):
        envelope.data_key("acct_b")


def test_create_key_is_idempotent(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    first = keyring.get_wrapped("acct_a")
    envelope.create_key("acct_a")
    assert keyring.get_wrapped("acct_a") == first


def test_shredding_makes_sealed_data_and_blind_indexes_unrecoverable(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    sealed = envelope.seal("acct_a", "+14155550100", **PLACE)
    index = envelope.blind_index("acct_a", "+14155550100", purpose="phone")
    assert index == envelope.blind_index("acct_a", "+14155550100", purpose="phone")
    envelope.shred("acct_a")
    with pytest.raises(envelope.KeyShredded):
        envelope.open_sealed("acct_a", sealed, **PLACE)
    with pytest.raises(envelope.KeyShredded):
        envelope.blind_index("acct_a", "+14155550100", purpose="phone")


def test_blind_index_differs_per_account_and_purpose(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    envelope.create_key("acct_b")
    a = envelope.blind_index("acct_a", "+14155550100", purpose="phone")
    assert a != envelope.blind_index("acct_b", "+14155550100", purpose="phone")
    assert a != envelope.blind_index("acct_a", "+14155550100", purpose="name")
    assert "14155550100" not in a
