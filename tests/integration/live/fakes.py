"""Fake Twilio, Plivo and WhatsApp Cloud APIs on loopback that check requests and answer as the providers do.

Each fake checks what the real API checks (HTTP Basic `AccountSid:AuthToken` / `AuthID:AuthToken`, Meta's bearer
token, the resource path, the content type, the required fields) and answers with the provider's documented status
and JSON (Twilio 201 Message resource, Plivo 202 `message_uuid` list, Meta 200 `messages[].id`; their error bodies
for 400/401). The Twilio and Plivo fakes also rebuild each request with the provider's official SDK (over a
recording transport) and refuse, and record in `problems`, one that differs from what the SDK sends.

Afterwards each fake produces the signed requests the provider would send back (status callbacks, inbound
messages): Twilio's and Plivo's signatures are made by their official SDKs (`twilio.request_validator`,
`plivo.utils.signature_v3`), not by a copy of our verifier; Meta publishes no Python SDK, so the WhatsApp fake signs
with the one documented step (hex HMAC-SHA256 of the raw body under the app secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import plivo
import requests
import twilio.http
import twilio.http.response
import twilio.rest
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature
from twilio.request_validator import RequestValidator

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# The WhatsApp Cloud API's media message objects by link, and the fields each takes (Meta's "Media object").
MEDIA_OBJECTS = {
    "image": {"link", "caption"},
    "video": {"link", "caption"},
    "audio": {"link"},
    "document": {"link", "caption", "filename"},
}
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Seen:
    """One request a fake carrier received, as sent."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class CarrierRequest:
    """A request a carrier makes to us (status callback or inbound message): what API Gateway would receive."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Sent:
    """A message a fake carrier accepted."""

    carrier_id: str
    to: str
    from_: str
    text: str
    callback: str  # where the carrier reports statuses (the URL it was given)
    fields: dict[str, Any]


@dataclass
class FakeCarrier:
    """A fake carrier API: one loopback server; `outage` and `delay_s` make it fail like a carrier in trouble."""

    url: str = ""
    outage: int | None = None  # answer this status (with the provider's error body) to every request
    delay_s: float = 0.0  # hold every answer this long (a carrier that does not answer in time)
    seen: list[Seen] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)
    # What the status API answers for an accepted message (by carrier id): (status, error code); "sent" by default.
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # requests that differ from what the provider's SDK sends
    released: threading.Event = field(default_factory=threading.Event)
    # How the carrier fetches a media link it was handed (the test routes it to our public route): URL -> (status,
    # bytes, content type); and what each fetch gave, by URL.
    fetch_link: Callable[[str], tuple[int, bytes, str]] | None = None
    fetched: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)

    def fetch_media(self, urls: list[str]) -> bool:
        """Fetch each media link as the carrier does on taking the message; False when one is not https or fails."""
        for url in urls:
            if not url.startswith("https://") or self.fetch_link is None:
                self.problems.append(f"cannot fetch media {url[:80]}")
                return False
            self.fetched[url] = self.fetch_link(url)
            if self.fetched[url][0] != 200:
                return False
        return True

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """The status and JSON body (or raw bytes: a recording's audio) the provider answers."""
        raise NotImplementedError

    def error(self, status: int) -> dict[str, Any]:
        """The provider's error body for `status`."""
        raise NotImplementedError

    def accepted(self) -> list[Sent]:
        """The messages accepted so far, oldest first."""
        return list(self.sent.values())

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.seen.append(Seen(method, path, headers, body, time.monotonic()))
        if self.delay_s:
            self.released.wait(self.delay_s)  # set at teardown: a slow answer never outlives its test
        if self.outage is not None:
            return self.outage, json.dumps(self.error(self.outage)).encode()
        status, payload = self.answer(method, path, headers, body)
        return status, payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def _basic_auth(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:
        return None
    return (user, password) if sep else None


def _form(headers: dict[str, str], body: bytes) -> dict[str, list[str]] | None:
    if not headers.get("content-type", "").startswith(FORM):
        return None
    return parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)


def _json(headers: dict[str, str], body: bytes) -> Any:
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class _TwilioCapture(twilio.http.HttpClient):
    """The transport of a twilio-python Client that records the request instead of sending it."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=False)
        self.answer = answer
        self.answer_status = 201
        self.sent: tuple[str, str, dict[str, Any], tuple[str, str] | None] | None = None

    def request(self, method: str, uri: str, **kwargs: Any) -> twilio.http.response.Response:  # type: ignore[override]
        data, auth = kwargs.get("data"), kwargs.get("auth")
        self.sent = (method, uri, dict(data or {}), auth)
        return twilio.http.response.Response(self.answer_status, json.dumps(self.answer))


def twilio_sdk_request(
    account_sid: str,
    auth_token: str,
    resource: str,
    fields: dict[str, str],
    events: list[str],
    *,
    media: list[str] | None = None,
) -> tuple[str, dict[str, list[str]], tuple[str, str] | None]:
    """What twilio-python sends for the same message or call: (path, form fields, basic auth)."""
    capture = _TwilioCapture({"sid": "SM" + "0" * 32, "account_sid": account_sid, "status": "queued"})
    client = twilio.rest.Client(account_sid, auth_token, http_client=capture)
    common = {"to": fields.get("To"), "from_": fields.get("From"), "status_callback": fields.get("StatusCallback")}
    if resource == "Calls.json":
        recording: dict[str, Any] = {}
        if fields.get("Record"):
            recording = {
                "record": fields["Record"] == "true",
                "recording_status_callback": fields.get("RecordingStatusCallback"),
                "recording_status_callback_event": [fields.get("RecordingStatusCallbackEvent")],
            }
        client.calls.create(twiml=fields.get("Twiml"), status_callback_event=events, **common, **recording)
    else:
        client.messages.create(body=fields.get("Body"), media_url=media or None, **common)
    assert capture.sent is not None
    method, uri, data, auth = capture.sent
    assert method == "POST"
    form = {k: [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in data.items()}
    return urlsplit(uri).path, form, auth


def twilio_sdk_fetch(account_sid: str, auth_token: str, resource: str, sid: str) -> tuple[str, str, tuple[str, str]]:
    """What twilio-python sends to fetch a Message or Call resource: (method, path, basic auth)."""
    capture = _TwilioCapture({"sid": sid, "account_sid": account_sid, "status": "sent"})
    client = twilio.rest.Client(account_sid, auth_token, http_client=capture)
    (client.calls(sid) if resource == "Calls" else client.messages(sid)).fetch()
    assert capture.sent is not None
    method, uri, _, auth = capture.sent
    assert auth is not None
    return method, urlsplit(uri).path, auth


def twilio_sdk_delete_recording(account_sid: str, auth_token: str, sid: str) -> tuple[str, str, tuple[str, str]]:
    """What twilio-python sends to delete a Recording: (method, path, basic auth)."""
    capture = _TwilioCapture({})
    client = twilio.rest.Client(account_sid, auth_token, http_client=capture)
    capture.answer_status = 204
    client.recordings(sid).delete()
    assert capture.sent is not None
    method, uri, _, auth = capture.sent
    assert auth is not None
    return method, urlsplit(uri).path, auth


def plivo_sdk_fetch(auth_id: str, auth_token: str, message_uuid: str) -> tuple[str, str]:
    """What plivo-python sends to retrieve a message: (method, path)."""
    client = plivo.RestClient(auth_id, auth_token)
    captured: list[requests.PreparedRequest] = []

    def send(request: requests.PreparedRequest, **_: Any) -> requests.Response:
        captured.append(request)
        answer = requests.Response()
        answer.status_code, answer.url, answer.request = 200, str(request.url), request
        answer.headers["Content-Type"] = "application/json"
        answer._content = json.dumps({"api_id": "x", "message_uuid": message_uuid, "message_state": "sent"}).encode()
        return answer

    client.session.send = send  # type: ignore[method-assign]
    client.messages.get(message_uuid)
    [request] = captured
    return str(request.method), urlsplit(str(request.url)).path


def plivo_sdk_delete_recording(auth_id: str, auth_token: str, recording_id: str) -> tuple[str, str]:
    """What plivo-python sends to delete a recording: (method, path)."""
    client = plivo.RestClient(auth_id, auth_token)
    captured: list[requests.PreparedRequest] = []

    def send(request: requests.PreparedRequest, **_: Any) -> requests.Response:
        captured.append(request)
        answer = requests.Response()
        answer.status_code, answer.url, answer.request = 204, str(request.url), request
        answer._content = b""
        return answer

    client.session.send = send  # type: ignore[method-assign]
    client.recordings.delete(recording_id)
    [request] = captured
    return str(request.method), urlsplit(str(request.url)).path


def plivo_sdk_request(
    auth_id: str, auth_token: str, resource: str, payload: dict[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """What plivo-python sends for the same message or call: (path, JSON body, the SDK's own default arguments)."""
    client = plivo.RestClient(auth_id, auth_token)
    captured: list[requests.PreparedRequest] = []

    def send(request: requests.PreparedRequest, **_: Any) -> requests.Response:
        captured.append(request)
        answer = requests.Response()
        answer.status_code, answer.url, answer.request = 202, str(request.url), request
        answer.headers["Content-Type"] = "application/json"
        answer._content = json.dumps({"api_id": "x", "message_uuid": ["x"], "request_uuid": "x"}).encode()
        return answer

    client.session.send = send  # type: ignore[method-assign]
    if resource == "Call/":
        method = client.calls.create
        client.calls.create(
            from_=payload.get("from"),
            to_=payload.get("to"),
            answer_url=payload.get("answer_url"),
            answer_method=payload.get("answer_method"),
            hangup_url=payload.get("hangup_url"),
            hangup_method=payload.get("hangup_method"),
        )
    else:
        method = client.messages.create
        mms = {"type_": payload["type"], "media_urls": payload.get("media_urls")} if "type" in payload else {}
        client.messages.create(
            src=payload.get("src"),
            dst=payload.get("dst"),
            text=payload.get("text"),
            url=payload.get("url"),
            method=payload.get("method"),
            **mms,
        )
    [request] = captured
    defaults = {
        name.rstrip("_"): p.default
        for name, p in inspect.signature(inspect.unwrap(method)).parameters.items()
        if p.default is not inspect.Parameter.empty and p.default is not None
    }
    return urlsplit(str(request.url)).path, json.loads(request.body or b"{}"), defaults


def warm_up() -> None:
    """Load the SDKs' lazily imported API modules now: on a carrier's first request they would take about a second,
    which our adapters' 1 s timeout would take for an outage."""
    to, from_, url = "+14155552671", "+14155550100", "https://warm.example/cb"
    for resource in ("Messages.json", "Calls.json"):
        fields = {"To": to, "From": from_, "Body": "x", "Twiml": "<Response/>", "StatusCallback": url}
        twilio_sdk_request("AC" + "0" * 32, "token", resource, fields, [])
    call = {"from": from_[1:], "to": to[1:], "answer_url": url, "answer_method": "POST"}
    plivo_sdk_request("MA" + "0" * 18, "token", "Call/", {**call, "hangup_url": url, "hangup_method": "POST"})
    plivo_sdk_request("MA" + "0" * 18, "token", "Message/", {"src": from_[1:], "dst": to[1:], "text": "x"})


class FakeTwilio(FakeCarrier):
    """Twilio's Messages API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.recordings: dict[str, bytes] = {}  # what Twilio keeps until it is deleted, by RecordingSid
        self.deleted_recordings: list[str] = []
        self.failing_deletes = 0  # answer this many recording deletions 503 (Twilio in trouble)

    def error(self, status: int) -> dict[str, Any]:
        codes = {400: 21211, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
        code = codes.get(status, 20500)
        return {
            "code": code,
            "message": {401: "Authenticate", 404: "The requested resource was not found"}.get(status, "Error"),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if _basic_auth(headers) != (self.account_sid, self.auth_token):
            return 401, self.error(401)
        resource = path.removeprefix(f"/2010-04-01/Accounts/{self.account_sid}/")
        recording = re.fullmatch(r"Recordings/(RE[0-9a-f]{32})\.(wav|json)", resource)
        if recording is not None:
            return self._recording(method, path, headers, recording[1], recording[2])
        fetched = re.fullmatch(r"(Messages|Calls)/([A-Za-z0-9]+)\.json", resource)
        if method == "GET" and fetched is not None:
            return self._fetch(path, headers, fetched[1], fetched[2])
        return self._create(method, path, headers, resource, body)

    def _create(
        self, method: str, path: str, headers: dict[str, str], resource: str, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST" or resource not in {"Messages.json", "Calls.json"}:
            return 404, self.error(404)
        form = _form(headers, body)
        # The Calls API takes StatusCallbackEvent once per event, the Messages API MediaUrl once per file.
        repeatable = {"StatusCallbackEvent", "MediaUrl"}
        if form is None or any(len(v) != 1 for k, v in form.items() if k not in repeatable):
            return 400, {**self.error(400), "code": 21602, "message": "Message body is required."}
        fields = {k: v[0] for k, v in form.items()}
        sdk_path, sdk_form, sdk_auth = twilio_sdk_request(
            self.account_sid,
            self.auth_token,
            resource,
            fields,
            form.get("StatusCallbackEvent", []),
            media=form.get("MediaUrl"),
        )
        if (path, form, (self.account_sid, self.auth_token)) != (sdk_path, sdk_form, sdk_auth):
            self.problems.append(f"not what twilio-python sends: {form} != {sdk_form} at {sdk_path}")
            return 400, self.error(400)
        if resource == "Calls.json":
            return self._call(fields, form.get("StatusCallbackEvent", []))
        return self._message(fields, form.get("MediaUrl", []))

    def _recording(self, method: str, path: str, headers: dict[str, str], sid: str, suffix: str) -> tuple[int, Any]:
        """GET `.../Recordings/{sid}.wav` (the audio, as Twilio's media URL serves it) or DELETE `.../{sid}.json`."""
        if method == "GET" and suffix == "wav":
            audio = self.recordings.get(sid)
            return (200, audio) if audio is not None else (404, self.error(404))
        if method == "DELETE" and suffix == "json":
            expected = twilio_sdk_delete_recording(self.account_sid, self.auth_token, sid)
            if expected != ("DELETE", path, _basic_auth(headers)):
                self.problems.append(f"not what twilio-python deletes: {path}")
                return 400, self.error(400)
            if self.failing_deletes:
                self.failing_deletes -= 1
                return 503, self.error(503)
            if self.recordings.pop(sid, None) is None:
                return 404, self.error(404)
            self.deleted_recordings.append(sid)
            return 204, b""
        return 405, self.error(400)

    def record(self, call_sid: str, audio: bytes) -> CarrierRequest:
        """The call was recorded: Twilio keeps the audio and posts the recording status callback (signed) to the
        call's RecordingStatusCallback URL."""
        sent = self.sent[call_sid]
        recording_sid = "RE" + uuid.uuid4().hex
        self.recordings[recording_sid] = audio
        params = {
            "AccountSid": self.account_sid,
            "CallSid": call_sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}",
            "RecordingStatus": "completed",
            "RecordingDuration": "3",
            "RecordingChannels": "1",
            "RecordingSource": "OutboundAPI",
        }
        # A recording nobody asked for (started from the console) is reported to the call's status URL.
        return self._signed(sent.fields.get("RecordingStatusCallback") or sent.callback, params)

    def _fetch(self, path: str, headers: dict[str, str], resource: str, sid: str) -> tuple[int, dict[str, Any]]:
        """GET a Message or Call resource (the status API), as twilio-python fetches it."""
        if twilio_sdk_fetch(self.account_sid, self.auth_token, resource, sid) != (
            "GET",
            path,
            _basic_auth(headers),
        ):
            self.problems.append(f"not what twilio-python fetches: {path}")
            return 400, self.error(400)
        if sid not in self.sent or sid.startswith("CA") != (resource == "Calls"):
            return 404, self.error(404)
        status, code = self.statuses.get(sid, ("sent", ""))
        return 200, {
            "sid": sid,
            "account_sid": self.account_sid,
            "status": status,
            "error_code": int(code) if code else None,
        }

    def _message(self, fields: dict[str, str], media: list[str]) -> tuple[int, dict[str, Any]]:
        to, from_ = fields.get("To", ""), fields.get("From", "")
        if not E164.fullmatch(to.removeprefix("whatsapp:")) or to.startswith("whatsapp:") != from_.startswith(
            "whatsapp:"
        ):
            return 400, self.error(400)  # 21211: invalid 'To' (and a WhatsApp To needs a WhatsApp From)
        if not fields.get("Body") and not media:
            return 400, {**self.error(400), "code": 21602, "message": "Message body is required."}
        if len(media) > 10 or not self.fetch_media(media):
            return 400, {**self.error(400), "code": 11200, "message": "HTTP retrieval failure"}
        sid = "SM" + uuid.uuid4().hex
        sent = {**fields, "MediaUrl": media} if media else fields
        self.sent[sid] = Sent(sid, to, from_, fields.get("Body", ""), fields.get("StatusCallback", ""), sent)
        return 201, {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": fields.get("Body", ""),
            "direction": "outbound-api",
            "num_media": str(len(media)),
            "error_code": None,
            "error_message": None,
            "from": from_,
            "num_segments": "1",
            "price": None,
            "sid": sid,
            "status": "queued",
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def _call(self, fields: dict[str, str], events: list[str]) -> tuple[int, dict[str, Any]]:
        to, from_, twiml = fields.get("To", ""), fields.get("From", ""), fields.get("Twiml", "")
        if not E164.fullmatch(to) or not E164.fullmatch(from_):
            return 400, self.error(400)
        if not twiml.startswith("<Response>"):
            return 400, {**self.error(400), "code": 21205, "message": "Url or Twiml is required"}
        sid = "CA" + uuid.uuid4().hex
        callback = fields.get("StatusCallback", "")
        self.sent[sid] = Sent(sid, to, from_, twiml, callback, {**fields, "StatusCallbackEvent": events})
        return 201, {"account_sid": self.account_sid, "sid": sid, "status": "queued", "to": to, "from": from_}

    def call_status(self, sid: str, status: str, **details: str) -> CarrierRequest:
        """A call-progress callback Twilio posts to the call's StatusCallback URL (`details`: CallDuration,
        AnsweredBy... as Twilio adds them to a completed call's callback)."""
        sent = self.sent[sid]
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "Direction": "outbound-api",
            "From": sent.from_,
            "To": sent.to,
            "SequenceNumber": "0",
            **details,
        }
        return self._signed(sent.callback, params)

    def _signed(self, url: str, params: dict[str, str]) -> CarrierRequest:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        headers = {"Content-Type": FORM, "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        return CarrierRequest(url, headers, urlencode(params).encode())

    def status_callback(self, sid: str, status: str, error_code: str = "") -> CarrierRequest:
        """The status callback Twilio posts to the message's StatusCallback URL."""
        sent = self.sent[sid]
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": sent.from_,
            "To": sent.to,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return self._signed(sent.callback, params)

    def inbound(self, url: str, *, from_: str, to: str, body: str) -> CarrierRequest:
        """An incoming SMS as Twilio posts it to the number's messaging webhook `url`."""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
        return self._signed(url, params)


class FakePlivo(FakeCarrier):
    """Plivo's Message API (`POST /v1/Account/{auth_id}/Message/`, JSON)."""

    def __init__(self, auth_id: str, auth_token: str) -> None:
        super().__init__()
        self.auth_id, self.auth_token = auth_id, auth_token
        self.recordings: dict[str, bytes] = {}  # what Plivo keeps until it is deleted, by RecordingID
        self.deleted_recordings: list[str] = []

    def error(self, status: int) -> dict[str, Any]:
        return {"api_id": str(uuid.uuid4()), "error": "not authorized" if status == 401 else "internal error"}

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if _basic_auth(headers) != (self.auth_id, self.auth_token):
            return 401, self.error(401)
        resource = path.removeprefix(f"/v1/Account/{self.auth_id}/")
        read = self._read(method, path, resource)
        if read is not None:
            return read
        if method != "POST" or resource not in {"Message/", "Call/"}:
            return 404, {"api_id": str(uuid.uuid4()), "error": "not found"}
        payload = _json(headers, body)
        if isinstance(payload, dict) and self._differs_from_sdk(path, resource, payload):
            return 400, {"api_id": str(uuid.uuid4()), "error": "unexpected request"}
        if resource == "Call/":
            return self._call(payload)
        return self._message(payload)

    def _read(self, method: str, path: str, resource: str) -> tuple[int, Any] | None:
        """A recording's audio or deletion, or a message's status; None for anything else."""
        recording = re.fullmatch(r"Recording/([0-9a-f-]{36})(\.wav|/)", resource)
        if recording is not None:
            return self._recording(method, path, recording[1], recording[2])
        fetched = re.fullmatch(r"Message/([0-9a-f-]+)/", resource)
        if method == "GET" and fetched is not None:
            return self._fetch(path, fetched[1])
        return None

    def _recording(self, method: str, path: str, rid: str, suffix: str) -> tuple[int, Any]:
        """GET `.../Recording/{id}.wav` (the media host's audio) or DELETE `.../Recording/{id}/` (the API)."""
        if method == "GET" and suffix == ".wav":
            audio = self.recordings.get(rid)
            return (200, audio) if audio is not None else (404, {"error": "not found"})
        if method == "DELETE" and suffix == "/":
            if plivo_sdk_delete_recording(self.auth_id, self.auth_token, rid) != ("DELETE", path):
                self.problems.append(f"not what plivo-python deletes: {path}")
                return 400, {"error": "unexpected request"}
            if self.recordings.pop(rid, None) is None:
                return 404, {"api_id": str(uuid.uuid4()), "error": "not found"}
            self.deleted_recordings.append(rid)
            return 204, b""
        return 405, {"error": "method not allowed"}

    def record(self, request_uuid: str, audio: bytes, callback_url: str) -> CarrierRequest:
        """The call was recorded (`<Record recordSession>`): Plivo keeps the audio and posts to the callbackUrl."""
        rid = str(uuid.uuid4())
        self.recordings[rid] = audio
        params = {
            "RecordUrl": f"https://media.plivo.com/v1/Account/{self.auth_id}/Recording/{rid}.wav",
            "RecordingID": rid,
            "RecordingDuration": "3",
            "RecordingDurationMs": "3000",
            "RecordingStartMs": "1796287967000",
            "RecordingEndMs": "1796287970000",
            "CallUUID": "c" + request_uuid[1:],
        }
        return self._signed(callback_url, params)

    def _fetch(self, path: str, message_uuid: str) -> tuple[int, dict[str, Any]]:
        """GET a message (the status API), as plivo-python retrieves it."""
        if plivo_sdk_fetch(self.auth_id, self.auth_token, message_uuid) != ("GET", path):
            self.problems.append(f"not what plivo-python retrieves: {path}")
            return 400, {"api_id": str(uuid.uuid4()), "error": "unexpected request"}
        if message_uuid not in self.sent or "src" not in self.sent[message_uuid].fields:
            return 404, {"api_id": str(uuid.uuid4()), "error": "not found"}
        state, code = self.statuses.get(message_uuid, ("sent", ""))
        return 200, {
            "api_id": str(uuid.uuid4()),
            "message_uuid": message_uuid,
            "message_state": state,
            "message_direction": "outbound",
            "error_code": code,
        }

    def _differs_from_sdk(self, path: str, resource: str, payload: dict[str, Any]) -> bool:
        sdk_path, sdk_body, defaults = plivo_sdk_request(self.auth_id, self.auth_token, resource, payload)
        added = {k: v for k, v in sdk_body.items() if k not in payload}
        # The SDK sends what we send, plus only its own default arguments (the API's defaults).
        same = path == sdk_path and payload.items() <= sdk_body.items()
        if same and all(defaults.get(k) == v for k, v in added.items()):
            return False
        self.problems.append(f"not what plivo-python sends: {payload} vs {sdk_body} at {sdk_path}")
        return True

    def _message(self, payload: Any) -> tuple[int, dict[str, Any]]:
        mms = isinstance(payload, dict) and payload.get("type") == "mms"
        required = ("src", "dst") if mms else ("src", "dst", "text")
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in required):
            return 400, {"api_id": str(uuid.uuid4()), "error": "src, dst and text are required"}
        media = payload.get("media_urls") or []
        if mms and (not isinstance(media, list) or not 0 < len(media) <= 10 or not self.fetch_media(media)):
            return 400, {"api_id": str(uuid.uuid4()), "error": "media_urls: 1 to 10 reachable URLs for an MMS"}
        if not all(E164.fullmatch("+" + payload[k].removeprefix("+")) for k in ("src", "dst")):
            return 400, {"api_id": str(uuid.uuid4()), "error": "invalid dst"}
        message_uuid = str(uuid.uuid4())
        src, dst = "+" + payload["src"].removeprefix("+"), "+" + payload["dst"].removeprefix("+")
        self.sent[message_uuid] = Sent(message_uuid, dst, src, payload.get("text", ""), payload.get("url", ""), payload)
        return 202, {"api_id": str(uuid.uuid4()), "message": "message(s) queued", "message_uuid": [message_uuid]}

    def _call(self, payload: Any) -> tuple[int, dict[str, Any]]:
        keys = ("from", "to", "answer_url", "answer_method", "hangup_url", "hangup_method")
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in keys):
            return 400, {"api_id": str(uuid.uuid4()), "error": "from, to and answer_url are required"}
        if not payload["answer_url"].startswith("https://"):
            return 400, {"api_id": str(uuid.uuid4()), "error": "answer_url must be a valid URL"}
        request_uuid = str(uuid.uuid4())
        to, from_ = "+" + payload["to"].removeprefix("+"), "+" + payload["from"].removeprefix("+")
        self.sent[request_uuid] = Sent(request_uuid, to, from_, "", payload["hangup_url"], payload)
        return 201, {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": request_uuid}

    def _call_params(self, request_uuid: str, status: str) -> dict[str, str]:
        sent = self.sent[request_uuid]
        return {
            "CallUUID": "c" + request_uuid[1:],
            "ALegUUID": "c" + request_uuid[1:],
            "ALegRequestUUID": request_uuid,
            "RequestUUID": request_uuid,
            "CallStatus": status,
            "Direction": "outbound",
            "From": sent.from_.removeprefix("+"),
            "To": sent.to.removeprefix("+"),
        }

    def answer_request(self, request_uuid: str) -> CarrierRequest:
        """The callee answered: Plivo asks the call's `answer_url` (query included) for its XML."""
        sent = self.sent[request_uuid]
        return self._signed(
            sent.fields["answer_url"], {**self._call_params(request_uuid, "in-progress"), "Event": "StartApp"}
        )

    def hangup(self, request_uuid: str, status: str = "completed", **details: str) -> CarrierRequest:
        """The call ended: Plivo posts to its `hangup_url` (`details`: BillDuration, TotalCost, AnsweredBy...)."""
        params = {
            **self._call_params(request_uuid, status),
            "HangupCause": "NORMAL_CLEARING",
            "Duration": "7",
            **details,
        }
        return self._signed(self.sent[request_uuid].callback, params)

    def _signed(self, url: str, params: dict[str, str]) -> CarrierRequest:
        # plivo-python's V3 signer renders the UTF-8 bytes of non-ASCII values one character per byte before
        # encoding them again (an open upstream fix: plivo/plivo-python#294), so it disagrees with our UTF-8
        # verifier there; the fake signs ASCII only, where both agree.
        assert all(f"{k}{v}".isascii() for k, v in params.items()), "the Plivo fake signs ASCII parameters only"
        nonce = str(secrets.randbelow(10**20)).zfill(20)
        base = construct_post_url(url, dict(params))
        signature = get_signature_v3(self.auth_token, base, nonce).decode()
        # The SDK's own validator accepts what its signer made: the fake cannot drift from Plivo's scheme.
        assert validate_v3_signature("POST", url, nonce, self.auth_token, signature, dict(params))
        headers = {
            "Content-Type": FORM,
            "X-Plivo-Signature-V3": signature,
            "X-Plivo-Signature-V3-Nonce": nonce,
            "User-Agent": "PlivoHTTP",
        }
        return CarrierRequest(url, headers, urlencode(params).encode())

    def status_callback(self, message_uuid: str, status: str, error_code: str = "") -> CarrierRequest:
        """The message status callback Plivo posts to the message's `url`."""
        sent = self.sent[message_uuid]
        params = {
            "From": sent.from_.removeprefix("+"),
            "To": sent.to.removeprefix("+"),
            "Status": status,
            "MessageUUID": message_uuid,
            "ParentMessageUUID": message_uuid,
            "PartInfo": "1 of 1",
            "TotalRate": "0.0050",
            "TotalAmount": "0.0050",
            "Units": "1",
            "MCC": "310",
            "MNC": "410",
            "ErrorCode": error_code,
        }
        return self._signed(sent.callback, params)

    def inbound(self, url: str, *, from_: str, to: str, body: str) -> CarrierRequest:
        """An incoming SMS as Plivo posts it to the application's message URL `url`."""
        params = {
            "From": from_.removeprefix("+"),
            "To": to.removeprefix("+"),
            "Type": "sms",
            "Text": body,
            "MessageUUID": str(uuid.uuid4()),
            "TotalRate": "0",
            "TotalAmount": "0",
            "Units": "1",
        }
        return self._signed(url, params)


class FakeWhatsApp(FakeCarrier):
    """The WhatsApp Cloud API (`POST /v21.0/{phone-number-id}/messages`, JSON, bearer token)."""

    def __init__(self, access_token: str, app_secret: str, phone_number_ids: dict[str, str]) -> None:
        super().__init__()
        self.access_token, self.app_secret = access_token, app_secret
        self.numbers = {number_id: number for number, number_id in phone_number_ids.items()}

    def error(self, status: int) -> dict[str, Any]:
        code, kind = {401: (190, "OAuthException"), 400: (100, "GraphMethodException")}.get(
            status, (2, "OAuthException")
        )
        message = "Invalid OAuth access token" if code == 190 else "Service temporarily unavailable"
        return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "A" + uuid.uuid4().hex[:22]}}

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization", "") != f"Bearer {self.access_token}":
            return 401, self.error(401)
        found = re.fullmatch(r"/v21\.0/([0-9]+)/messages", path)
        if method != "POST" or found is None or found[1] not in self.numbers:
            return 400, {**self.error(400), "error": {**self.error(400)["error"], "error_subcode": 33}}
        payload = _json(headers, body)
        ok = isinstance(payload, dict) and payload.get("messaging_product") == "whatsapp"
        ok = ok and isinstance(payload.get("to"), str) and E164.fullmatch("+" + payload["to"].removeprefix("+"))
        kind = payload.get("type") if ok else None
        if kind == "text" and isinstance(payload["text"], dict) and payload["text"].get("body"):
            text = payload["text"]["body"]
        elif kind == "template" and isinstance(payload["template"], dict) and payload["template"].get("name"):
            text = json.dumps(payload["template"], sort_keys=True)
        elif kind in MEDIA_OBJECTS and self._media_ok(kind, payload.get(kind)):
            text = payload[kind].get("caption", "")
        else:
            return 400, {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
        wamid = "wamid." + base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        to = "+" + payload["to"].removeprefix("+")
        self.sent[wamid] = Sent(wamid, to, self.numbers[found[1]], text, "", payload)
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": to.removeprefix("+")}],
            "messages": [{"id": wamid}],
        }

    def _media_ok(self, kind: str, part: Any) -> bool:
        """A media object by `link` as Meta documents it: a caption on images, videos and documents only, a file
        name on documents only, nothing else; Meta fetches the link before it accepts the message."""
        if not isinstance(part, dict) or not isinstance(part.get("link"), str) or set(part) - MEDIA_OBJECTS[kind]:
            return False
        return self.fetch_media([part["link"]])

    def _signed(self, url: str, number: str, value: dict[str, Any]) -> CarrierRequest:
        number_id = next(i for i, n in self.numbers.items() if n == number)
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": number.removeprefix("+"),
                                    "phone_number_id": number_id,
                                },
                                **value,
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
        raw = json.dumps(payload).encode()
        digest = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
        return CarrierRequest(url, headers, raw)

    def status_callback(self, url: str, wamid: str, status: str, timestamp: int) -> CarrierRequest:
        """The `statuses` webhook Meta posts to the app's callback URL `url`."""
        sent = self.sent[wamid]
        status_value = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": sent.to[1:]}
        if "biz_opaque_callback_data" in sent.fields:  # Meta echoes what the send carried, in each status
            status_value["biz_opaque_callback_data"] = sent.fields["biz_opaque_callback_data"]
        return self._signed(url, sent.from_, {"statuses": [status_value]})

    def inbound(self, url: str, *, from_: str, to: str, body: str, timestamp: int) -> CarrierRequest:
        """An incoming text message as Meta posts it to the app's callback URL `url`."""
        wamid = "wamid." + base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        value = {
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": from_[1:]}],
            "messages": [
                {"from": from_[1:], "id": wamid, "timestamp": str(timestamp), "type": "text", "text": {"body": body}}
            ],
        }
        return self._signed(url, to, value)


def _handler(fake: FakeCarrier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, answer = fake._respond(self.command, self.path, headers, body)
            except Exception as error:  # a bug in the fake: reported at teardown, never mistaken for an outage
                fake.problems.append(f"the fake failed: {error!r}")
                status, answer = 500, b"{}"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "audio/x-wav" if answer.startswith(b"RIFF") else "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                return  # the client gave up (timeout): nothing to answer

        do_POST = do_GET = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def serving(fake: FakeCarrier) -> Iterator[FakeCarrier]:
    """Run `fake` on a free loopback port until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)
