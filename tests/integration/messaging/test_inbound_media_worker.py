"""media_worker against fake Twilio, WhatsApp and Plivo media hosts: each file fetched as the carrier documents it
(credentials, redirects, the Graph lookup), stored sealed and counted once; too large, the wrong type, a carrier
that fails then recovers, the last receive, a poison job; the webhook goes once, with the file ids."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.files_api import handler as files_api
from local import provision
from switchboard import catalog, clock, settings
from switchboard.carriers import registry, sandbox
from switchboard.carriers.base import CarrierEvent, Media
from switchboard.crypto import secret_store
from switchboard.dal import files as files_store
from switchboard.dal import messages as messages_dal
from switchboard.logic import files as files_logic
from switchboard.logic import inbound
from switchboard.models import plans
from tests.fakes.carrier_media import Answer, MediaHost, media_host
from tests.integration.files_support import versions
from tests.integration.live.test_live_recordings import run_media_worker
from tests.integration.messaging.conftest import Account, Queues
from tests.integration.messaging.test_conversations import deliver_webhooks, only_recipient, timeline
from tests.integration.messaging.test_real_carrier_webhooks import (  # noqa: F401 - the carrier_secrets fixture
    PLIVO,
    TWILIO,
    carrier_secrets,
)
from tests.integration.webhooks.conftest import Listener, add_endpoint, listener  # noqa: F401 - the fixture

PHONE = "+14155550321"
WHATSAPP = {"access_token": "wa-token", "app_secret": "s", "verify_token": "v", "phone_number_ids": {}}
SID = TWILIO["account_sid"]
MESSAGE = "MM" + "a" * 32
PNG = sandbox.png(8, 8)


@pytest.fixture
def host(queues: Queues, carrier_secrets: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MediaHost]:  # noqa: F811
    """One fake media host standing in for every real carrier's API and media hosts (registry.point_at)."""
    arn = boto3.client("secretsmanager").create_secret(Name="whatsapp", SecretString=json.dumps(WHATSAPP))["ARN"]
    monkeypatch.setenv("WHATSAPP_CREDENTIALS_SECRET", arn)
    settings.reload()
    secret_store.forget()
    with media_host() as fake:
        registry.point_at(dict.fromkeys(("twilio", "plivo", "whatsapp"), fake.base_url))
        try:
            yield fake
        finally:
            registry.point_at({})


def _twilio_path(media: str) -> str:
    return f"/2010-04-01/Accounts/{SID}/Messages/{MESSAGE}/Media/{media}"


def _twilio_url(media: str) -> str:
    return f"https://api.twilio.com{_twilio_path(media)}"  # what Twilio's webhook names; never fetched as is


def _arrives(account: Account, carrier: str, channel: str, *files: Media, body: str = "look") -> str:
    """A verified inbound message with files, applied as carrier_events applies it."""
    event = CarrierEvent(
        kind="inbound",
        carrier=carrier,
        event_id=f"evt-{time.monotonic_ns()}",
        at=clock.rfc3339(clock.now()),
        channel=channel,
        from_=PHONE,
        to=account.senders[channel],
        body=body,
        message_type="media",
        media=files,
    )
    assert inbound.handle(event).endswith(":media_queued")
    return only_recipient(account)


def _media(account: Account, recipient_id: str) -> list[dict[str, Any]]:
    [entry] = [e for e in timeline(account, recipient_id)["data"] if e["direction"] == "inbound"][:1]
    return list(entry["media"])


def _hooked(account: Account, listener: Listener) -> None:  # noqa: F811
    add_endpoint(account.account_id, "whe_1", listener.url, {"message.inbound"})


def _events(listener: Listener) -> list[dict[str, Any]]:  # noqa: F811
    return [json.loads(r.body)["data"] for r in listener.received]


def test_twilio_media_is_fetched_with_basic_auth_through_its_redirect_stored_sealed_and_sent_with_its_id(
    account: Account,
    queues: Queues,
    host: MediaHost,
    listener: Listener,  # noqa: F811
) -> None:
    _hooked(account, listener)
    host.serve(_twilio_path("ME" + "b" * 32), Answer(302, headers={"Location": "/cdn/one.png"}))
    host.serve("/cdn/one.png", Answer(200, PNG, {"Content-Type": "image/png"}))
    rid = _arrives(account, "twilio", "sms", Media("image", _twilio_url("ME" + "b" * 32), "image/png"))
    assert _media(account, rid)[0]["status"] == "pending"
    assert queues.drain("Callbacks") == []  # no webhook before the file is settled
    jobs = queues.drain("CarrierMedia")
    assert [json.loads(j["Body"]) for j in jobs] == [
        {
            "kind": "inbound_media",
            "account_id": account.account_id,
            "message_id": json.loads(jobs[0]["Body"])["message_id"],
            "carrier": "twilio",
            "keyword": None,
        }
    ]
    assert run_media_worker(jobs)["batchItemFailures"] == []
    [api_hit] = host.hits(_twilio_path("ME" + "b" * 32))
    assert api_hit["authorization"].startswith("Basic ")
    [stored] = _media(account, rid)
    assert (stored["status"], stored["content_type"], stored["size"]) == ("stored", "image/png", len(PNG))
    meta = account.call(files_api, "GET", f"/v1/files/{stored['file_id']}", role="agent")
    assert (meta.status, meta.body["source"], meta.body["size"]) == (200, "inbound", len(PNG))
    # The object is sealed (no PNG header), opens to the exact bytes, and is counted once.
    record = files_store.get(account.account_id, stored["file_id"])
    assert record is not None and record.source == "inbound" and record.recipient_id == rid
    assert files_logic.serve(record, None).body == PNG
    sealed = files_store.get_object(record.object_key)
    assert sealed is not None and b"\x89PNG" not in sealed
    assert files_store.usage(account.account_id) == len(PNG)
    deliver_webhooks(queues)
    [event] = _events(listener)
    assert event["media"] == [
        {
            "kind": "image",
            "content_type": "image/png",
            "status": "stored",
            "file_id": stored["file_id"],
            "size": len(PNG),
        }
    ]
    # A redelivered job finds the message settled: nothing fetched, counted or sent again.
    assert run_media_worker(jobs)["batchItemFailures"] == []
    assert len(host.hits(_twilio_path("ME" + "b" * 32))) == 1
    assert files_store.usage(account.account_id) == len(PNG)
    assert queues.drain("Callbacks") == []


def test_too_large_wrong_type_and_gone_files_are_failed_for_good_and_the_webhook_still_goes(
    account: Account,
    queues: Queues,
    host: MediaHost,
    listener: Listener,  # noqa: F811
) -> None:
    _hooked(account, listener)
    big, text, gone, chunked = ("ME" + c * 32 for c in "cdef")
    host.serve(_twilio_path(big), Answer(200, PNG + b"\0" * 5_000_001))  # over MMS's 5 MB, Content-Length says so
    host.serve(_twilio_path(text), Answer(200, b"just text, no picture"))
    host.serve(_twilio_path(gone), Answer(404, b"{}"))
    host.serve(_twilio_path(chunked), Answer(200, PNG + b"\0" * 5_000_001, declare_length=False))
    files = [Media("image", _twilio_url(m), "image/png") for m in (big, text, gone, chunked)]
    rid = _arrives(account, "twilio", "sms", *files)
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    assert [(m["status"], m.get("reason")) for m in _media(account, rid)] == [
        ("failed", "too_large"),
        ("failed", "unsupported_type"),
        ("failed", "not_found"),
        ("failed", "too_large"),
    ]
    assert files_store.usage(account.account_id) == 0
    assert files_store.delete_versions(f"files/{account.account_id}/") == 0  # nothing was stored
    deliver_webhooks(queues)
    [event] = _events(listener)
    assert [m["reason"] for m in event["media"]] == ["too_large", "unsupported_type", "not_found", "too_large"]


def test_a_carrier_that_fails_then_recovers_is_retried_and_the_last_receive_settles_the_rest(
    account: Account,
    queues: Queues,
    host: MediaHost,
    listener: Listener,  # noqa: F811
) -> None:
    _hooked(account, listener)
    good, flaky, down = ("ME" + c * 32 for c in "123")
    host.serve(_twilio_path(good), Answer(200, PNG))
    host.serve(_twilio_path(flaky), Answer(503, b"", times=1), Answer(200, PNG))
    host.serve(_twilio_path(down), Answer(500, b""))
    rid = _arrives(
        account, "twilio", "sms", *(Media("image", _twilio_url(m), "image/png") for m in (good, flaky, down))
    )
    jobs = queues.drain("CarrierMedia")
    assert len(run_media_worker(jobs)["batchItemFailures"]) == 1  # SQS brings it back
    assert [m["status"] for m in _media(account, rid)] == ["stored", "pending", "pending"]
    assert queues.drain("Callbacks") == []
    assert len(run_media_worker(jobs)["batchItemFailures"]) == 1
    assert [m["status"] for m in _media(account, rid)] == ["stored", "stored", "pending"]
    # The last receive before the DLQ: what still fails is failed `unavailable`, and the webhook goes.
    last = [{**j, "Attributes": {**j["Attributes"], "ApproximateReceiveCount": "5"}} for j in jobs]
    assert run_media_worker(last)["batchItemFailures"] == []
    assert [(m["status"], m.get("reason")) for m in _media(account, rid)] == [
        ("stored", None),
        ("stored", None),
        ("failed", "unavailable"),
    ]
    assert len(host.hits(_twilio_path(good))) == 1  # stored once, never fetched again
    assert files_store.usage(account.account_id) == 2 * len(PNG)
    deliver_webhooks(queues)
    assert len(_events(listener)) == 1


def test_whatsapp_media_is_looked_up_on_the_graph_api_then_fetched_with_the_bearer_token(
    account: Account, queues: Queues, host: MediaHost
) -> None:
    lookup = f"/v21.0/{'4' * 16}"
    download = "/lookaside/whatsapp_business/attachments/?mid=4444&ext=1"
    info = {"url": host.base_url + download, "mime_type": "image/png", "file_size": len(PNG), "id": "4" * 16}
    host.serve(lookup, Answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"}))
    host.serve(download, Answer(200, PNG))
    rid = _arrives(account, "whatsapp", "whatsapp", Media("image", "4" * 16, "image/png"))
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    assert [h["authorization"] for h in host.hits(lookup) + host.hits(download)] == ["Bearer wa-token"] * 2
    assert _media(account, rid)[0]["status"] == "stored"
    # A lookup announcing a file past the bound is refused before its bytes are asked for.
    host.serve(f"/v21.0/{'5' * 16}", Answer(200, json.dumps({**info, "file_size": 17 * 2**20}).encode()))
    _arrives(account, "whatsapp", "whatsapp", Media("video", "5" * 16, "video/mp4"), body="big")
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    assert len(host.hits(download)) == 1


def test_plivo_mms_media_is_fetched_from_its_media_path_with_basic_auth(
    account: Account, queues: Queues, host: MediaHost
) -> None:
    path = f"/Account/{PLIVO['auth_id']}/Message/0f1e2d3c/Media/9a8b7c6d"
    host.serve(path, Answer(200, PNG))
    rid = _arrives(account, "plivo", "sms", Media("document", f"https://media.plivo.com{path}"))
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    [hit] = host.hits(path)
    assert hit["authorization"].startswith("Basic ")
    # Plivo names no type: the stored bytes tell the kind.
    assert [(m["kind"], m["status"], m["content_type"]) for m in _media(account, rid)] == [
        ("image", "stored", "image/png")
    ]


def test_a_poison_job_reaches_the_dead_letter_queue_after_its_receives(queues: Queues) -> None:
    spec = catalog.queue("CarrierMedia")
    queues.sqs.send_message(QueueUrl=queues.urls["CarrierMedia"], MessageBody='{"kind": "inbound_media"}')
    failures = 0
    for _ in range(spec.max_receive_count + 1):
        got = queues.sqs.receive_message(
            QueueUrl=queues.urls["CarrierMedia"], VisibilityTimeout=0, AttributeNames=["All"]
        ).get("Messages", [])
        if got:
            result: dict[str, Any] = run_media_worker(got)
            failures += len(result["batchItemFailures"])
    assert failures == spec.max_receive_count
    dlq_url = queues.sqs.get_queue_url(QueueName=provision.queue_name(spec, dead_letter=True))["QueueUrl"]
    dead = queues.sqs.receive_message(QueueUrl=dlq_url).get("Messages", [])
    assert [m["Body"] for m in dead] == ['{"kind": "inbound_media"}']


def test_a_file_past_the_plans_storage_is_failed_storage_full_and_nothing_is_counted(
    account: Account, queues: Queues, host: MediaHost
) -> None:
    limit = plans.storage_bytes(account.plan)
    assert files_store.reserve(account.account_id, limit - 10, limit=limit)  # the account's storage is all but full
    host.serve(_twilio_path("ME" + "7" * 32), Answer(200, PNG))
    rid = _arrives(account, "twilio", "sms", Media("image", _twilio_url("ME" + "7" * 32), "image/png"))
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    assert [(m["status"], m["reason"]) for m in _media(account, rid)] == [("failed", "storage_full")]
    assert files_store.usage(account.account_id) == limit - 10


def test_files_of_a_message_erased_while_they_were_fetched_are_removed_not_kept(
    account: Account, queues: Queues, host: MediaHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.serve(_twilio_path("ME" + "8" * 32), Answer(200, PNG))
    _arrives(account, "twilio", "sms", Media("image", _twilio_url("ME" + "8" * 32), "image/png"))
    [job] = queues.drain("CarrierMedia")
    inbound_id = json.loads(job["Body"])["message_id"]
    real = files_logic.store_bytes

    def then_erased(*args: Any, **kwargs: Any) -> Any:
        # The person is erased while the worker stores their file (another function, same moment).
        kept = real(*args, **kwargs)
        messages_dal.delete_inbound(account.account_id, inbound_id)
        return kept

    monkeypatch.setattr(files_logic, "store_bytes", then_erased)
    assert run_media_worker([job])["batchItemFailures"] == []
    file_id = files_store.inbound_media_id(inbound_id, 0)
    assert files_store.get(account.account_id, file_id) is None
    assert versions(files_store.object_key(account.account_id, file_id)) == []
    assert files_store.usage(account.account_id) == 0
    assert queues.drain("Callbacks") == []  # nobody to tell about a message that is gone
