"""Recording callbacks and scripts on the wire (docs/recordings.md): what is taken from a callback, what is ignored,
and that a recording id never reaches a URL unless it is one the carrier issues."""

from __future__ import annotations

import pytest

from switchboard.carriers import plivo, twilio
from switchboard.carriers.base import CarrierRejected
from switchboard.carriers.plivo import PlivoCarrier
from tests.unit.carriers.test_twilio import _callback, _carrier

RECORDING = "RE" + "a1" * 16
CALL = "CA" + "b2" * 16


def _recording(**changes: str) -> dict[str, str]:
    params = {"RecordingSid": RECORDING, "RecordingStatus": "completed", "CallSid": CALL, "RecordingDuration": "3"}
    return {**params, **changes}


def test_twilio_a_completed_recording_is_one_recording_event_of_its_call() -> None:
    [event] = _carrier().parse(_callback(_recording()))
    assert (event.kind, event.carrier_message_id, event.recording_ref) == ("recording", CALL, RECORDING)
    assert event.event_id == f"{RECORDING}:completed"


@pytest.mark.parametrize(
    "changes",
    [{"RecordingStatus": "in-progress"}, {"RecordingStatus": "failed"}, {"RecordingSid": "RE../../Calls/x"}],
    ids=["in_progress", "failed", "not_a_sid"],
)
def test_twilio_other_recording_callbacks_are_ignored(changes: dict[str, str]) -> None:
    assert _carrier().parse(_callback(_recording(**changes))) == []


def test_twilio_a_final_call_status_carries_its_details_and_an_early_one_none() -> None:
    params = {"CallSid": CALL, "CallStatus": "completed", "CallDuration": "12", "AnsweredBy": "machine_start"}
    [done] = _carrier().parse(_callback(params))
    assert dict(done.call) == {"duration_s": "12", "answered_by": "machine_start"}
    [ringing] = _carrier().parse(_callback({**params, "CallStatus": "ringing"}))
    assert dict(ringing.call) == {}


def test_twilio_the_script_of_a_recorded_call_reads_the_notice_first_escaped() -> None:
    assert twilio.twiml_say("a < b", notice=twilio.RECORDING_NOTICE) == (
        "<Response><Say>This call may be recorded.</Say><Say>a &lt; b</Say></Response>"
    )


@pytest.mark.parametrize("ref", ["RE123", "../Calls/CA" + "0" * 32, "RE" + "A" * 32])
def test_a_recording_ref_that_is_not_the_carriers_id_never_reaches_a_url(ref: str) -> None:
    with pytest.raises(CarrierRejected):
        _carrier(url="https://unused.invalid").fetch_recording(ref, max_bytes=10)
    plivo_carrier = PlivoCarrier(credentials=lambda: {"auth_id": "MA" + "1" * 18, "auth_token": "t"})
    with pytest.raises(CarrierRejected):
        plivo_carrier.delete_recording(ref)


def test_plivo_the_record_element_names_our_ref_escaped_and_a_body_cannot_add_elements() -> None:
    xml = plivo.speak_xml("<Hangup/>", record_ref="acct_1.msg_2.0f")
    assert xml.startswith('<Response><Record recordSession="true" redirect="false" fileFormat="wav" callbackUrl="')
    assert '/v1/carriers/plivo/events?sb_ref=acct_1.msg_2.0f"' in xml
    assert xml.endswith("<Speak>This call may be recorded.</Speak><Speak>&lt;Hangup/&gt;</Speak></Response>")
    assert plivo.speak_xml("Hi") == "<Response><Speak>Hi</Speak></Response>"
