"""Per-account envelope encryption: sealed fields are bound to their place, cheap on KMS, and shreddable."""

import os
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag

from functions.kek_migration_job import handler as kek_migration_job
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


def test_data_key_is_wrapped_by_a_kek_that_kms_wraps_with_the_account_as_encryption_context(
    aws: dict[str, str],
) -> None:
    envelope.create_key("acct_a")
    envelope.create_key("acct_b")
    wrapped_a = keyring.get_wrapped("acct_a")
    kek_a = keyring.get_kek("acct_a")
    assert wrapped_a is not None
    assert kek_a is not None
    assert wrapped_a.version == keyring.KEK_WRAPPED
    kms = boto3.client("kms")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=kek_a, EncryptionContext={"account_id": "acct_b", "use": "key-encryption-key"})
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=kek_a, EncryptionContext={"account_id": "acct_a"})  # not a data key context
    # The stored data key is no KMS ciphertext: only the account's KEK opens it.
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=wrapped_a.key, EncryptionContext={"account_id": "acct_a"})
    # A wrapped key copied into another account's keyring row is useless there (its KEK and binding differ).
    keyring.KeyringItem(account_pk("acct_b"), keyring.KEY_SK, wrapped_key=wrapped_a.key, version=2).save()
    envelope.forget_cached_keys()
    with pytest.raises(InvalidTag):
        envelope.data_key("acct_b")
    # And another account's KEK copied into this account's row opens nothing (KMS context names the account).
    keyring.KekItem(account_pk("acct_c"), keyring.KEK_SK, wrapped_kek=kek_a).save()
    keyring.KeyringItem(account_pk("acct_c"), keyring.KEY_SK, wrapped_key=wrapped_a.key, version=2).save()
    with pytest.raises(ClientError, match="InvalidCiphertextException"):
        envelope.data_key("acct_c")


def test_a_restored_data_key_without_its_kek_is_shredded(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    sealed = envelope.seal("acct_a", "+14155550100", **PLACE)
    restored = keyring.get_wrapped("acct_a")
    assert restored is not None
    envelope.shred("acct_a")
    assert keyring.get_kek("acct_a") is None
    # The Keyring row comes back from PITR or a backup; the KEK table has neither.
    keyring.KeyringItem(account_pk("acct_a"), keyring.KEY_SK, wrapped_key=restored.key, version=2).save()
    envelope.forget_cached_keys()
    with pytest.raises(envelope.KeyShredded, match="no key-encryption key"):
        envelope.open_sealed("acct_a", sealed, **PLACE)
    # Nor does creating the key again bring the old one back: create_key sees a row and makes nothing.
    envelope.create_key("acct_a")
    assert keyring.get_kek("acct_a") is None


def _legacy_key(account_id: str) -> None:
    """A data key as stored before key-encryption keys: KMS-wrapped, version 1."""
    response = boto3.client("kms").generate_data_key(
        KeyId=os.environ["DATA_KEY_ID"], KeySpec="AES_256", EncryptionContext={"account_id": account_id}
    )
    assert keyring.put_wrapped_once(account_id, response["CiphertextBlob"], version=keyring.KMS_WRAPPED)


def test_a_kms_wrapped_key_still_opens_and_the_migration_job_rewraps_it_once(aws: dict[str, str], context: Any) -> None:
    _legacy_key("acct_old")
    envelope.create_key("acct_new")
    sealed = envelope.seal("acct_old", "+14155550100", **PLACE)
    index = envelope.blind_index("acct_old", "+14155550100", purpose="phone")
    assert keyring.get_kek("acct_old") is None

    first = kek_migration_job.lambda_handler({}, context)
    second = kek_migration_job.lambda_handler({}, context)

    assert (first["found"], first["rewrapped"], first["complete"]) == (1, 1, True)
    assert (second["found"], second["rewrapped"]) == (0, 0)
    stored = keyring.get_wrapped("acct_old")
    assert stored is not None
    assert stored.version == keyring.KEK_WRAPPED
    assert keyring.get_kek("acct_old") is not None
    envelope.forget_cached_keys()
    assert envelope.open_sealed("acct_old", sealed, **PLACE) == "+14155550100"  # the same data key
    assert envelope.blind_index("acct_old", "+14155550100", purpose="phone") == index
    envelope.shred("acct_old")
    keyring.KeyringItem(account_pk("acct_old"), keyring.KEY_SK, wrapped_key=stored.key, version=2).save()
    envelope.forget_cached_keys()
    with pytest.raises(envelope.KeyShredded):
        envelope.open_sealed("acct_old", sealed, **PLACE)


def test_a_rewrap_that_loses_to_a_purge_leaves_no_kek_behind(
    aws: dict[str, str], monkeypatch: Any, context: Any
) -> None:
    _legacy_key("acct_old")
    replace = keyring.replace_wrapped

    def purged_meanwhile(account_id: str, old: keyring.Wrapped, new: bytes) -> bool:
        # The purge (another function: its own thread, not the job's stack) runs between the rewrap's read and its
        # conditional write.
        purge = threading.Thread(target=envelope.shred, args=(account_id,))
        purge.start()
        purge.join()
        return replace(account_id, old, new)

    monkeypatch.setattr(keyring, "replace_wrapped", purged_meanwhile)
    report = kek_migration_job.lambda_handler({}, context)
    assert (report["found"], report["rewrapped"]) == (1, 0)
    assert keyring.get_wrapped("acct_old") is None
    assert keyring.get_kek("acct_old") is None


def test_create_key_is_idempotent(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    first = keyring.get_wrapped("acct_a")
    kek = keyring.get_kek("acct_a")
    envelope.create_key("acct_a")
    assert keyring.get_wrapped("acct_a") == first
    assert keyring.get_kek("acct_a") == kek


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
