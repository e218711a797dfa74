"""The call recorder names the calling functions and each resource in catalog terms, once per process."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from local import recorder
from switchboard import catalog, settings
from tests import ledger


def _run_in_module(module_name: str) -> tuple[str, ...]:
    # A function defined in a module of this name, as a handler (or the seeder) is: its frame is on the stack.
    module = types.ModuleType(module_name)
    exec("def call(get):\n    return get()\n", module.__dict__)  # noqa: S102 - a two-line fixture
    result: tuple[str, ...] = module.call(recorder.caller)
    return result


def test_the_calling_function_is_found_on_the_stack() -> None:
    assert _run_in_module("functions.authorizer.handler") == ("authorizer",)
    # Three catalog functions run the send worker's code: a call of that code is each one's call.
    assert _run_in_module("functions.send_worker.handler") == (
        "sms_send_worker",
        "voice_send_worker",
        "whatsapp_send_worker",
    )
    assert _run_in_module("infra.seeder.index") == (recorder.SEEDER,)
    assert _run_in_module("tests.unit.helper") == ()


def test_resources_are_named_by_catalog_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNTS_TABLE", "test-Accounts")
    monkeypatch.setenv("PEPPERS_SECRET", "arn:aws:secretsmanager:eu-west-1:1:secret:peppers-AbC123")
    monkeypatch.setenv("DATA_KEY_ID", "1234-abcd")
    assert recorder.calls_of("dynamodb", "Query", {"TableName": "test-Accounts", "IndexName": "gsi1"}) == [
        ("Query", "Accounts/index/gsi1")
    ]
    # Local names, queue URLs and DLQs are recognised without an environment variable.
    assert recorder.catalog_id("table", "switchboard-local-Messaging") == "Messaging"
    assert recorder.catalog_id("queue", "http://127.0.0.1:1/123/switchboard-local-SmsSend") == "SmsSend"
    assert recorder.catalog_id("queue", "http://127.0.0.1:1/123/switchboard-local-Callbacks-dlq") == "CallbacksDLQ"
    assert recorder.catalog_id("secret", "arn:aws:secretsmanager:eu-west-1:1:secret:peppers-XyZ987") == "Peppers"
    assert recorder.catalog_id("secret", "switchboard/local/SandboxCredentials") == "SandboxCredentials"
    assert recorder.catalog_id("table", "someone-elses") == "?someone-elses"
    assert recorder.calls_of("kms", "Decrypt", {"KeyId": "1234-abcd"}) == [("Decrypt", "Envelope")]
    assert recorder.calls_of("kms", "Decrypt", {"CiphertextBlob": b"x"}) == [("Decrypt", "Envelope")]
    assert recorder.calls_of("kms", "Decrypt", {"KeyId": "other"}) == [("Decrypt", "?key")]


def test_transactions_and_batches_name_each_table_and_item_action() -> None:
    items: list[dict[str, Any]] = [
        {"Put": {"TableName": "switchboard-local-Accounts"}},
        {"ConditionCheck": {"TableName": "switchboard-local-Sessions"}},
    ]
    assert recorder.calls_of("dynamodb", "TransactWriteItems", {"TransactItems": items}) == [
        ("TransactWriteItems:Put", "Accounts"),
        ("TransactWriteItems:ConditionCheck", "Sessions"),
    ]
    batch = {"RequestItems": {"switchboard-local-Messaging": [], "switchboard-local-Limits": []}}
    assert recorder.calls_of("dynamodb", "BatchWriteItem", batch) == [
        ("BatchWriteItem", "Messaging"),
        ("BatchWriteItem", "Limits"),
    ]


def test_each_process_writes_each_call_once_and_the_ledger_round_trips(tmp_path: Path) -> None:
    calls = recorder.Recorder(tmp_path)
    for _ in range(3):
        calls.record(("authorizer",), "dynamodb", "GetItem", {"TableName": "switchboard-local-Sessions"})
    calls.record(("seeder",), "secretsmanager", "PutSecretValue", {"SecretId": "switchboard/local/Peppers"})
    assert len(calls.path.read_text().splitlines()) == 2
    rows = recorder.read(tmp_path)
    assert rows == {
        ("authorizer", "dynamodb", "GetItem", "Sessions"),
        ("seeder", "secretsmanager", "PutSecretValue", "Peppers"),
    }
    assert ledger.parse(ledger.render(rows)) == rows


def test_cached_secrets_and_data_keys_are_recorded_as_a_cold_function_fetches_them(tmp_path: Path) -> None:
    # In one shared process a secret or data key fetched by another function is cached; deployed it is not.
    from switchboard.crypto import envelope, secret_store  # noqa: PLC0415

    calls = recorder.Recorder(tmp_path)
    module = types.ModuleType("functions.authorizer.handler")
    exec("def call(get):\n    return get()\n", module.__dict__)  # noqa: S102
    original = secret_store.get_json, envelope.data_key
    try:
        secret_store.get_json = lambda env: {"cached": env}  # type: ignore[assignment]
        envelope.data_key = lambda account_id: b"k" * 32  # type: ignore[assignment]
        recorder._record_cold_starts(calls)
        assert module.call(lambda: secret_store.get_json("PEPPERS_SECRET")) == {"cached": "PEPPERS_SECRET"}
        assert module.call(lambda: envelope.data_key("acct_1")) == b"k" * 32
    finally:
        secret_store.get_json, envelope.data_key = original  # type: ignore[assignment]
    assert recorder.read(tmp_path) == {
        ("authorizer", "secretsmanager", "GetSecretValue", "Peppers"),
        ("authorizer", "dynamodb", "GetItem", "Keyring"),
        ("authorizer", "dynamodb", "GetItem", "KeyEncryptionKeys"),  # the account's KEK unwraps its data key
        ("authorizer", "kms", "Decrypt", "Envelope"),
    }


def test_the_recorder_names_the_status_page_bucket_from_the_calling_functions_scope() -> None:
    config = json.dumps({"bucket": "pages"})
    put = {"Bucket": "pages", "Key": "index.html"}
    with settings.scope({"STAGE": "local", catalog.STATUS_PAGE_CONFIG_ENV: config}):
        assert recorder.calls_of("s3", "PutObject", put) == [("PutObject", "StatusPage/index.html")]
        assert recorder.calls_of("s3", "PutObject", {**put, "Bucket": "other"}) == [("PutObject", "?other")]
    # Outside the job's scope the bucket is nobody's: the ledger would show it unresolved (and fail).
    with settings.scope({"STAGE": "local"}):
        assert recorder.calls_of("s3", "PutObject", put) == [("PutObject", "?pages")]
