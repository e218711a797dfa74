"""A recorded call through the real Twilio adapter (fake Twilio on loopback, twilio-python's wire format): Record and
RecordingStatusCallback on the Calls request, the signed recording callback, the worker's fetch of the WAV, the
recording kept sealed and counted, Twilio's copy deleted (a failed delete retried), the call's details on its log."""

from __future__ import annotations

import hashlib
from typing import Any
from xml.etree import ElementTree

from functions.carrier_events import handler as carrier_events  # noqa: F401 - to_gateway invokes it
from functions.media_worker import handler as media_worker
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.recordings_api import handler as recordings_api
from local.workers import sqs_event
from switchboard.carriers import sandbox
from switchboard.dal import files as files_store
from tests.integration.conftest import Context
from tests.integration.live.conftest import (
    PHONE,
    Carriers,
    callback_url,
    forged,
    log,
    run_send_worker,
    to_gateway,
)
from tests.integration.messaging.conftest import Account, Queues, opted_in

ARN = "arn:aws:sqs:eu-west-1:1:switchboard-dev-CarrierMedia"


def run_media_worker(messages: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = media_worker.lambda_handler(sqs_event(messages, ARN), Context())
    return result


def test_live_recorded_call_is_fetched_from_twilio_kept_sealed_and_deleted_there(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    opted_in(account, recipients_api, PHONE, ("voice",))
    body = {"channel": "voice", "to": PHONE, "body": "Your results are in", "record": True}
    sent = account.call(messages_api, "POST", "/v1/messages", body)
    assert sent.status == 202, sent.body
    message_id = sent.body["id"]
    assert run_send_worker(dev, "VoiceSend")["batchItemFailures"] == []

    # The Calls request (checked against twilio-python's by the fake): a notice first, recorded, our signed ref.
    [call] = carriers.twilio.accepted()
    assert call.text == "<Response><Say>This call may be recorded.</Say><Say>Your results are in</Say></Response>"
    assert call.fields["Record"] == "true"
    assert call.fields["RecordingStatusCallback"] == callback_url("twilio", account, message_id)
    assert call.fields["RecordingStatusCallbackEvent"] == "completed"

    # The call ends: its duration and who answered reach the message's log.
    done = carriers.twilio.call_status(call.carrier_id, "completed", CallDuration="7", AnsweredBy="human")
    assert to_gateway(done).status == 200
    assert log(account, message_id)["call"] == {
        "duration_s": 7,
        "billed_s": None,
        "answered_by": "human",
        "price": None,
        "currency": None,
    }

    # Twilio posts the recording callback: a forged one is refused, the signed one queues the fetch.
    audio = sandbox.tone_wav(seconds=1.0)
    recorded = carriers.twilio.record(call.carrier_id, audio)
    assert to_gateway(forged(recorded)).status == 401
    assert dev.drain("CarrierMedia") == []
    assert to_gateway(recorded).status == 200
    jobs = dev.drain("CarrierMedia")
    assert len(jobs) == 1
    [recording_sid] = carriers.twilio.recordings

    # Twilio fails the first delete: the job fails (it comes back), the audio is already kept.
    carriers.twilio.failing_deletes = 1
    assert run_media_worker(jobs)["batchItemFailures"] == [{"itemIdentifier": jobs[0]["MessageId"]}]
    assert recording_sid in carriers.twilio.recordings
    entry = log(account, message_id)
    recording_id = entry["recording_id"]
    stored = files_store.get(account.account_id, recording_id)
    assert stored is not None
    assert (stored.source, stored.message_id, stored.size) == ("recording", message_id, len(audio))
    usage = files_store.usage(account.account_id)
    assert usage == len(audio)

    # Redelivered: nothing fetched or counted twice, and Twilio's copy is deleted now.
    fetches = [s for s in carriers.twilio.seen if s.path.endswith(".wav")]
    assert run_media_worker(jobs)["batchItemFailures"] == []
    assert [s for s in carriers.twilio.seen if s.path.endswith(".wav")] == fetches
    assert carriers.twilio.recordings == {}
    assert carriers.twilio.deleted_recordings == [recording_sid]
    assert files_store.usage(account.account_id) == usage
    # Once more (SQS delivers at least once): Twilio answers 404, which is done.
    assert run_media_worker(jobs)["batchItemFailures"] == []

    # The object is sealed (no WAV header, no run of the audio); the owner reads the audio back.
    sealed = files_store.get_object(stored.object_key)
    assert sealed is not None
    assert b"RIFF" not in sealed and audio[200:264] not in sealed
    assert account.call(recordings_api, "GET", f"/v1/recordings/{recording_id}", role="viewer").status == 403
    meta = account.call(recordings_api, "GET", f"/v1/recordings/{recording_id}", role="owner")
    assert meta.status == 200, meta.body
    assert meta.body["sha256"] == hashlib.sha256(audio).hexdigest()
    assert meta.body["content_type"] == "audio/wav"


def test_live_a_recording_nobody_asked_for_is_deleted_at_twilio_never_kept(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    opted_in(account, recipients_api, PHONE, ("voice",))
    sent = account.call(messages_api, "POST", "/v1/messages", {"channel": "voice", "to": PHONE, "body": "Hi"})
    assert sent.status == 202, sent.body
    assert sent.body["record"] is False
    assert run_send_worker(dev, "VoiceSend")["batchItemFailures"] == []
    [call] = carriers.twilio.accepted()
    assert "Record" not in call.fields
    assert call.text == "<Response><Say>Hi</Say></Response>"

    # A recording arrives anyway (recorded from Twilio's console, say): deleted there, never fetched or kept.
    assert to_gateway(carriers.twilio.record(call.carrier_id, sandbox.tone_wav())).status == 200
    assert run_media_worker(dev.drain("CarrierMedia"))["batchItemFailures"] == []
    assert carriers.twilio.recordings == {}
    assert not [s for s in carriers.twilio.seen if s.path.endswith(".wav")]
    assert log(account, sent.body["id"]).get("recording_id") is None
    assert files_store.usage(account.account_id) == 0


def test_live_recorded_call_through_plivo_records_from_its_answer_xml_and_is_deleted_there(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    carriers.twilio.outage = 503  # the call fails over to Plivo
    opted_in(account, recipients_api, PHONE, ("voice",))
    body = {"channel": "voice", "to": PHONE, "body": "Your results are in", "record": True}
    message_id = account.call(messages_api, "POST", "/v1/messages", body).body["id"]
    assert run_send_worker(dev, "VoiceSend")["batchItemFailures"] == []
    [call] = carriers.plivo.accepted()

    # The callee answers: the script records the whole call, reads the notice first, and names our ref.
    script = to_gateway(carriers.plivo.answer_request(call.carrier_id))
    assert script.status == 200
    xml = ElementTree.fromstring(script.body)  # noqa: S314 - our own function's answer, not untrusted input
    record = xml.find("Record")
    assert record is not None
    assert [(e.tag, e.text) for e in xml][1:] == [
        ("Speak", "This call may be recorded."),
        ("Speak", "Your results are in"),
    ]
    assert (record.get("recordSession"), record.get("fileFormat")) == ("true", "wav")
    assert record.get("callbackUrl") == callback_url("plivo", account, message_id)

    hangup = carriers.plivo.hangup(call.carrier_id, BillDuration="60", TotalCost="0.01300")
    assert to_gateway(hangup).status == 200
    assert log(account, message_id)["call"] == {
        "duration_s": 7,
        "billed_s": 60,
        "answered_by": None,
        "price": "0.01300",
        "currency": "USD",
    }

    audio = sandbox.tone_wav(seconds=0.4)
    recorded = carriers.plivo.record(call.carrier_id, audio, record.get("callbackUrl", ""))
    assert to_gateway(forged(recorded)).status == 401
    assert to_gateway(recorded).status == 200
    [recording] = carriers.plivo.recordings
    assert run_media_worker(dev.drain("CarrierMedia"))["batchItemFailures"] == []

    assert carriers.plivo.recordings == {}
    assert carriers.plivo.deleted_recordings == [recording]
    recording_id = log(account, message_id)["recording_id"]
    meta = account.call(recordings_api, "GET", f"/v1/recordings/{recording_id}", role="admin")
    assert meta.status == 200, meta.body
    assert meta.body["sha256"] == hashlib.sha256(audio).hexdigest()
