"""Plivo: SMS (Message API), voice (Call API whose answer URL reads the body), and Plivo's V3-signed webhooks.

Wire formats, as documented by Plivo:
- Messages: https://www.plivo.com/docs/messaging/api/message/send-a-message (POST `/v1/Account/{auth_id}/Message/`,
  JSON `{src, dst, text, url, method}`, HTTP Basic `auth_id:auth_token`; the answer's `message_uuid[0]`). Numbers
  are sent without `+` as the docs write them (Plivo strips it anyway); `<` separates destinations there, so
  only E.164 numbers are accepted.
- Calls: https://www.plivo.com/docs/voice/api/call/make-a-call (POST `/v1/Account/{auth_id}/Call/`, JSON `{from,
  to, answer_url, answer_method, hangup_url, hangup_method}`; the answer's `request_uuid`). Plivo fetches the call's
  XML from `answer_url` when the callee answers: see `answer_url`, `answer_target` and `speak_xml` below.
- Statuses: https://www.plivo.com/docs/messaging/api/message/message-status-callbacks (`Status`: queued, sent,
  failed, delivered, undelivered, rejected, read; `MessageUUID`, `ErrorCode`), inbound
  https://www.plivo.com/docs/messaging/xml/request (`From, To, Text, Type, MessageUUID`), calls
  https://www.plivo.com/docs/voice/xml/request (`CallUUID`, `CallStatus`, `ALegRequestUUID`).
- Recordings: https://www.plivo.com/docs/voice/xml/record (`<Record recordSession="true" fileFormat="wav"
  callbackUrl=…>` records the whole call in the background; the callback posts `RecordingID`, `RecordUrl`,
  `CallUUID`), the audio at `https://media.plivo.com/v1/Account/{auth_id}/Recording/{RecordingID}.wav` and
  https://www.plivo.com/docs/voice/api/recording/delete-a-recording (DELETE `/v1/Account/{auth_id}/Recording/{id}/`,
  204). The audio URL is built from the verified `RecordingID` (a UUID) on Plivo's media host, never taken from the
  callback's `RecordUrl`.
- Inbound MMS: https://www.plivo.com/docs/messaging/api/message/handling-incoming (`Type=mms`, the text in `Body`
  (`Text` for SMS), `MediaCount` and `Media1`…`Media<count>`, the URL of each file; Plivo's support article names
  them from `Media0`, so both are read). A file's URL is on Plivo's media host (MEDIA_URL), fetched with HTTP Basic
  (required once "secure media" is on); its path must be under our own `Account/{auth_id}/`, and the URL is rebuilt
  on the media host from that checked path. Redirects only to the same host.
- Status API: https://www.plivo.com/docs/messaging/api/message/retrieve-a-message (GET
  `/v1/Account/{auth_id}/Message/{message_uuid}/`: `message_state`, `error_code`), asked by the reconciliation job.
- Signatures: https://www.plivo.com/docs/voice/xml/request/validation (`X-Plivo-Signature-V3` with
  `X-Plivo-Signature-V3-Nonce`, "for answer_url, url (message callback), hangup_url…"); the exact string is the
  one Plivo's SDK builds (plivo-python `plivo/utils/signature_v3.py`): base64 HMAC-SHA256(auth token,
  `<scheme://host/path>?<sorted query k=v&…>[.]<sorted POST params k+v…>.<nonce>`), possibly a comma-separated list
  of signatures (one per active token). The older V2 scheme signs only URL + nonce, not the body: not accepted.

Secret `PlivoCredentials` (env PLIVO_CREDENTIALS_SECRET): `{"auth_id": "MA…", "auth_token": "…"}`; during a token
rotation `previous_auth_token` also verifies webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape

import urllib3

from switchboard.carriers import http_client, media_fetch, support
from switchboard.carriers.base import (
    CarrierEvent,
    CarrierRejected,
    CarrierStatus,
    CarrierUnavailable,
    Outbound,
    Receipt,
    WebhookRequest,
    ref_of,
)
from switchboard.models.message_status import MessageStatus
from switchboard.observability import logger

NAME = "plivo"
CHANNELS = frozenset({"sms", "voice"})
CREDENTIALS_ENV = "PLIVO_CREDENTIALS_SECRET"
API_URL = "https://api.plivo.com"
MEDIA_URL = "https://media.plivo.com"  # where Plivo serves recordings (its only host for them)
RECORDING_NOTICE = "This call may be recorded."
RECORDING_TIMEOUT_S = 10.0  # a worker's fetch of a recording, not a send's 1 s budget
SIGNATURE_HEADER = "x-plivo-signature-v3"
NONCE_HEADER = "x-plivo-signature-v3-nonce"

MESSAGE_STATUS_MAP: Mapping[str, MessageStatus] = {
    "queued": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "rejected": "failed",  # refused by the downstream carrier (regulation, content)
    "read": "read",  # WhatsApp via Plivo only
}
MESSAGE_FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "rejected", "read"})
CALL_STATUS_MAP: Mapping[str, MessageStatus] = {
    "ringing": "sending",
    "in-progress": "sent",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "timeout": "undelivered",
    "failed": "failed",
    "cancel": "canceled",
}
CALL_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "timeout", "failed", "cancel"})
# An inbound call's answer URL request (Direction=inbound) comes `ringing` (`in-progress` once answered).
INBOUND_CALL_STATUSES = frozenset({"ringing", "in-progress"})

# A message UUID (RFC 4122 text form): the only ids the status API is asked about.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# An inbound MMS file on Plivo's media host: the path is checked (ours, plain segments) and put on MEDIA_URL again.
_MEDIA_REF = re.compile(
    r"^https://media\.plivo\.com(/(?:v1/)?Account/([A-Za-z0-9]{1,40})/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*/?)$"
)


def _error_code(payload: Any) -> str:
    # Plivo answers errors as `{"api_id": …, "error": "<text>"}` without a code: the HTTP status is all there is.
    return ""


@dataclass(frozen=True)
class AnswerTarget:
    """The message a Plivo call's answer-URL request asks the XML for."""

    account_id: str
    message_id: str


def answer_url(msg: Outbound) -> str:
    """Where Plivo fetches a call's XML: our events route with the message named in the query.

    `POST {PUBLIC_BASE_URL}/v1/carriers/plivo/events?answer=1&account_id=…&message_id=…`, V3-signed like every Plivo
    request (the query is part of what is signed). The route verifies it, finds the message by `answer_target`
    and answers `speak_xml(body)` as `application/xml`; the body itself never appears in a URL.
    """
    query = urlencode([("answer", "1"), ("account_id", msg.account_id), ("message_id", msg.message_id)])
    return f"{support.events_url(NAME)}?{query}"


def answer_target(request: WebhookRequest) -> AnswerTarget | None:
    """The message an answer-URL request is about, or None for any other Plivo request."""
    if request.query.get("answer") != "1":
        return None
    account_id, message_id = request.query.get("account_id", ""), request.query.get("message_id", "")
    return AnswerTarget(account_id, message_id) if account_id and message_id else None


def speak_xml(body: str, *, record_ref: str = "") -> str:
    """The Plivo XML that reads `body` aloud; XML-escaped, so a body cannot inject elements. With `record_ref` (our
    ref to the message) the whole call is recorded after a notice, its callback carrying the ref."""
    if not record_ref:
        return f"<Response><Speak>{escape(body)}</Speak></Response>"
    callback = escape(f"{support.events_url(NAME)}?{urlencode([(support.REF_PARAM, record_ref)])}", {'"': "&quot;"})
    record = (
        '<Record recordSession="true" redirect="false" fileFormat="wav" '
        f'callbackUrl="{callback}" callbackMethod="POST"/>'
    )
    return f"<Response>{record}<Speak>{escape(RECORDING_NOTICE)}</Speak><Speak>{escape(body)}</Speak></Response>"


def _sorted_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def signature_v3(auth_token: str, method: str, url: str, params: list[tuple[str, str]], nonce: str) -> str:
    """Plivo's `X-Plivo-Signature-V3` of a request (the string plivo-python's signature_v3 builds)."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        query_string = _sorted_query(query + params)
        data = base + (f"?{query_string}" if query_string else "")
    else:
        query_string = _sorted_query(query)
        data = base
        if query_string or params:
            data += f"?{query_string}"
        if query_string and params:
            data += "."
        data += "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), f"{data}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class PlivoCarrier(support.HttpCarrier):
    """Plivo's Messaging and Voice APIs, sending and receiving."""

    NAME, CHANNELS, CREDENTIALS_ENV, API_URL = NAME, CHANNELS, CREDENTIALS_ENV, API_URL

    def submit(self, msg: Outbound) -> Receipt:
        """An SMS through the Message API, or a call whose answer URL reads the body."""
        creds = self._credentials_for(msg)
        auth_id = support.credential(NAME, creds, "auth_id")
        token = support.credential(NAME, creds, "auth_token")
        to = support.e164(NAME, msg.to).removeprefix("+")
        from_ = support.e164(NAME, msg.from_).removeprefix("+")
        callback = support.callback_url(NAME, msg)
        if msg.channel == "voice":
            resource, id_field = "Call/", "request_uuid"
            payload: dict[str, Any] = {
                "from": from_,
                "to": to,
                "answer_url": answer_url(msg),
                "answer_method": "POST",
                "hangup_url": callback,
                "hangup_method": "POST",
            }
        else:
            resource, id_field = "Message/", "message_uuid"
            payload = {"src": from_, "dst": to, "text": msg.body, "url": callback, "method": "POST"}
            if msg.media:
                # MMS: the files' links (Plivo fetches each); the text beside them is optional.
                payload |= {"type": "mms", "media_urls": [media.url for media in msg.media]}
                if not msg.body:
                    del payload["text"]
        headers = urllib3.util.make_headers(basic_auth=f"{auth_id}:{token}")
        headers["Content-Type"] = "application/json"
        response = self._http.post(
            NAME,
            f"{self._api_url}/v1/Account/{auth_id}/{resource}",
            headers=headers,
            body=json.dumps(payload).encode(),
        )
        answer = http_client.check(NAME, response, error_code=_error_code)
        carrier_id = answer.get(id_field) if isinstance(answer, dict) else None
        if isinstance(carrier_id, list):  # the Message API answers a list: one id per destination
            carrier_id = carrier_id[0] if carrier_id else None
        if not isinstance(carrier_id, str) or not carrier_id:
            # Plivo may have taken the message: failing over could deliver it twice, so it is not retried elsewhere.
            raise CarrierRejected(f"{NAME} accepted the message without an id", code="malformed-receipt")
        return Receipt(carrier=NAME, carrier_message_id=carrier_id)

    def verify(self, request: WebhookRequest) -> bool:
        """`X-Plivo-Signature-V3` (any of a comma-separated list) for this URL, parameters and nonce."""
        header, nonce = request.headers.get(SIGNATURE_HEADER, ""), request.headers.get(NONCE_HEADER, "")
        if not header or not nonce:
            return False
        tokens = support.signing_keys(self._credentials(), "auth_token")
        if not tokens:
            logger.error("plivo auth_token missing: every webhook is refused")
            return False
        params = support.form(request)
        expected = [signature_v3(token, request.method, request.url, params, nonce).encode() for token in tokens]
        given = [candidate.strip().encode() for candidate in header.split(",")]
        # Every pair is compared (no early exit), so timing does not tell which one matched.
        matches = [hmac.compare_digest(mine, theirs) for mine in expected for theirs in given]
        return any(matches)

    def handshake(self, request: WebhookRequest) -> str | None:
        """Plivo has no subscription handshake."""
        return None

    def parse(self, request: WebhookRequest) -> list[CarrierEvent]:
        """A message status callback, an inbound message, or a call's status (answer or hangup request)."""
        params = dict(support.form(request))
        if params.get("RecordingID"):
            event = _recording_event(params)
        elif params.get("MessageUUID"):
            event = _message_event(params)
        elif params.get("CallUUID"):
            event = _call_event(params)
        else:
            event = None
        if event is not None and event.kind in ("status", "recording"):
            # Our ref rode in the callback URL's query, which the V3 signature just verified covers.
            event = replace(event, ref=ref_of(request.query.get(support.REF_PARAM, "")))
        return [event] if event is not None else []

    def status(self, carrier_message_id: str, channel: str) -> CarrierStatus | None:
        """GET the Message resource: its `message_state` and `error_code`; None when 404 or for a call (whose
        resource is found by a call UUID we never learn from the Call API's answer)."""
        if channel == "voice" or not _UUID.fullmatch(carrier_message_id):
            return None
        creds = self._credentials()
        auth_id = support.credential(NAME, creds, "auth_id")
        token = support.credential(NAME, creds, "auth_token")
        return self._fetch_status(
            f"{self._api_url}/v1/Account/{auth_id}/Message/{carrier_message_id}/",
            urllib3.util.make_headers(basic_auth=f"{auth_id}:{token}"),
            field="message_state",
            mapping=MESSAGE_STATUS_MAP,
            error_code=_error_code,
        )

    def _recording(self, recording_ref: str) -> tuple[str, str, dict[str, str]]:
        creds = self._credentials()
        auth_id = support.credential(NAME, creds, "auth_id")
        token = support.credential(NAME, creds, "auth_token")
        if not _UUID.fullmatch(recording_ref):
            raise CarrierRejected(f"{NAME}: not a recording id", code="invalid-recording")
        return auth_id, recording_ref, urllib3.util.make_headers(basic_auth=f"{auth_id}:{token}")

    def fetch_recording(self, recording_ref: str, *, max_bytes: int) -> bytes:
        """GET the WAV from Plivo's media host (Basic auth: an account with secure media requires it)."""
        auth_id, rid, headers = self._recording(recording_ref)
        # Tests point the adapter at one fake for both hosts; deployed it is always Plivo's media host.
        media = MEDIA_URL if self._api_url == API_URL else self._api_url
        url = f"{media}/v1/Account/{auth_id}/Recording/{rid}.wav"
        response = self._http.fetch(NAME, url, headers=headers, max_bytes=max_bytes, timeout_s=RECORDING_TIMEOUT_S)
        if response.status != 200:
            raise CarrierUnavailable(f"{NAME} answered HTTP {response.status} for a recording")
        return response.body

    def fetch_media(self, ref: str, *, max_bytes: int) -> bytes:
        """An inbound MMS file from Plivo's media host (HTTP Basic), its path under our own account."""
        creds = self._credentials()
        auth_id = support.credential(NAME, creds, "auth_id")
        token = support.credential(NAME, creds, "auth_token")
        found = _MEDIA_REF.fullmatch(ref)
        if found is None or found.group(2) != auth_id or "/../" in f"{found.group(1)}/":
            raise media_fetch.MediaRefused("not_allowed", "not a media URL of our Plivo account")
        # Tests point the adapter at one fake for both hosts; deployed it is always Plivo's media host.
        faked = self._api_url != API_URL
        base = self._api_url if faked else MEDIA_URL
        host = media_fetch.Host(urlsplit(base).hostname or "")
        return media_fetch.fetch(
            NAME,
            f"{base}{found.group(1)}",
            headers=urllib3.util.make_headers(basic_auth=f"{auth_id}:{token}"),
            allowed=(host,),
            loopback=faked,
            max_bytes=max_bytes,
        )

    def delete_recording(self, recording_ref: str) -> None:
        """DELETE `/v1/Account/{auth_id}/Recording/{id}/`: 204, or 404 when it is gone already."""
        auth_id, rid, headers = self._recording(recording_ref)
        response = self._http.delete(NAME, f"{self._api_url}/v1/Account/{auth_id}/Recording/{rid}/", headers=headers)
        if response.status not in (200, 204, 404):
            raise CarrierUnavailable(f"{NAME} answered HTTP {response.status} to a recording's deletion")


def _recording_event(params: dict[str, str]) -> CarrierEvent | None:
    """A `<Record>` callback: the finished recording of a call (found by our ref in the callback URL)."""
    recording = params.get("RecordingID", "")
    if not _UUID.fullmatch(recording):
        logger.info("plivo recording callback ignored")
        return None
    return CarrierEvent(
        kind="recording",
        carrier=NAME,
        event_id=f"{recording}:recorded",
        at=support.now(),
        carrier_message_id=params.get("CallUUID", ""),
        recording_ref=recording,
    )


def _message_event(params: dict[str, str]) -> CarrierEvent | None:
    uuid, theirs = params["MessageUUID"], params.get("Status", "")
    if not theirs:  # inbound messages carry no Status
        # An MMS names its files Media1..Media<MediaCount> (MediaCount of them); Plivo gives no type per file.
        media = support.form_media(params, count="MediaCount", url="Media", content_type="MediaContentType")
        return support.form_inbound(
            NAME,
            event_id=uuid,
            channel="sms",
            sender=params.get("From", ""),
            to=params.get("To", ""),
            body=params.get("Text") or params.get("Body") or "",
            message_type="media" if media else "text",
            media=media,
        )
    status = MESSAGE_STATUS_MAP.get(theirs)
    if status is None:
        logger.info("plivo message status ignored", extra={"carrier_status": theirs[:32]})
        return None
    return support.form_status(
        NAME, event_id=f"{uuid}:{theirs}", message_id=uuid, status=status, error_code=params.get("ErrorCode", "")
    )


def _call_event(params: dict[str, str]) -> CarrierEvent | None:
    call, theirs = params["CallUUID"], params.get("CallStatus", "")
    if params.get("Direction") == "inbound":
        return _inbound_call(call, theirs, params)
    status = CALL_STATUS_MAP.get(theirs)
    # Our Receipt holds the Call API's request_uuid, which Plivo repeats as (ALeg)RequestUUID in call callbacks.
    request_uuid = params.get("ALegRequestUUID") or params.get("RequestUUID") or ""
    if status is None or not request_uuid:
        logger.info("plivo call callback ignored", extra={"carrier_status": theirs[:32]})
        return None
    failed = status in {"failed", "undelivered"}
    event = support.form_status(
        NAME,
        event_id=f"{call}:{theirs}",
        message_id=request_uuid,
        status=status,
        error_code=params.get("HangupCause", "") if failed else "",
    )
    return replace(event, call=_call_details(params)) if theirs in CALL_FINAL_STATUSES else event


def _call_details(params: dict[str, str]) -> dict[str, str]:
    """What Plivo's hangup request says of the call: `Duration`, `BillDuration`, `TotalCost` and (with machine
    detection) `AnsweredBy`, when it gives them."""
    names = {"Duration": "duration_s", "BillDuration": "billed_s", "AnsweredBy": "answered_by", "TotalCost": "price"}
    details = {ours: params[theirs][:32] for theirs, ours in names.items() if params.get(theirs)}
    if "price" in details:
        details["currency"] = "USD"  # Plivo bills in US dollars
    return details


def _inbound_call(call: str, theirs: str, params: dict[str, str]) -> CarrierEvent | None:
    """Someone calling one of our numbers: the application's answer URL request (`StartApp`, ringing) is the call;
    its hangup request says nothing new (the call is kept once, by its CallUUID)."""
    if params.get("Event") == "Hangup" or theirs not in INBOUND_CALL_STATUSES:
        logger.info("plivo inbound call callback ignored", extra={"carrier_status": theirs[:32]})
        return None
    return support.form_inbound_call(NAME, call, params)


def reject_call_xml() -> str:
    """The Plivo XML that answers an inbound call: hung up unanswered; the business sees it and may reply."""
    return '<Response><Hangup reason="busy"/></Response>'
