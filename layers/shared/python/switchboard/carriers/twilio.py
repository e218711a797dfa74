"""Twilio: SMS and WhatsApp (Messages API), voice (Calls API with inline TwiML), and Twilio's signed webhooks.

Wire formats, as documented by Twilio:
- Messages: https://www.twilio.com/docs/messaging/api/message-resource (POST
  `/2010-04-01/Accounts/{AccountSid}/Messages.json`, form `To, From, Body, StatusCallback`, HTTP Basic
  `AccountSid:AuthToken`; the answer's `sid` is the message id; WhatsApp addresses are `whatsapp:+E164`).
- Calls: https://www.twilio.com/docs/voice/api/call-resource (POST `.../Calls.json`, form `To, From, Twiml,
  StatusCallback, StatusCallbackEvent`); TwiML `<Response><Say>…</Say></Response>`.
- Statuses: https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks
  (`MessageStatus`, `ErrorCode`) and the Call resource's `CallStatus` values.
- Signatures: https://www.twilio.com/docs/usage/webhooks/webhooks-security: `X-Twilio-Signature` = base64 of
  HMAC-SHA1(auth token, full URL incl. query + each POST parameter name+value, sorted by name).
- Status API: GET `.../Messages/{sid}.json` (`status`, `error_code`) and `.../Calls/{sid}.json` (`status`): what the
  reconciliation job asks about a message whose receipt never came.
- Recordings: https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource (`Record=true`,
  `RecordingStatusCallback`, `RecordingStatusCallbackEvent`), the recording status callback (`RecordingSid`,
  `RecordingStatus`, `RecordingUrl`, `CallSid`) and https://www.twilio.com/docs/voice/api/recording (GET
  `.../Recordings/{sid}.wav` the audio, DELETE `.../Recordings/{sid}.json` → 204). The audio URL is built from the
  verified `RecordingSid` and our own API URL, never taken from the callback: no host a callback names is fetched.
- Inbound media: https://www.twilio.com/docs/messaging/guides/webhook-request (`NumMedia`, `MediaUrl{N}`,
  `MediaContentType{N}`, N from 0) and https://www.twilio.com/docs/messaging/api/media-resource: each file is
  `https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`, HTTP Basic (Twilio enforces it for all
  media URLs); Twilio answers with a redirect to its media CDN. The URL we fetch is rebuilt from the ids (the
  account SID must be ours); redirects are followed to MEDIA_REDIRECT_HOSTS only, without our credentials.
- Errors: https://www.twilio.com/docs/api/errors (400 + `code`, e.g. 21211 invalid 'To', 21610 unsubscribed).

Secret `TwilioCredentials` (env TWILIO_CREDENTIALS_SECRET): `{"account_sid": "AC…", "auth_token": "…"}`; during a
token rotation `previous_auth_token` also verifies webhooks (Twilio signs with whichever token is primary).
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape

import urllib3

from switchboard import catalog
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

NAME = "twilio"
CHANNELS = frozenset(catalog.CHANNELS)
CREDENTIALS_ENV = "TWILIO_CREDENTIALS_SECRET"
API_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "x-twilio-signature"

# Message statuses (`MessageStatus`, also sent as `SmsStatus`) onto ours. `receiving`/`received` are inbound
# messages, not statuses of ours.
MESSAGE_STATUS_MAP: Mapping[str, MessageStatus] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "partially_delivered": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "read",
    "canceled": "canceled",
}
MESSAGE_FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})
# Call statuses (`CallStatus`): a completed call was answered and heard; busy / no-answer reached nobody.
CALL_STATUS_MAP: Mapping[str, MessageStatus] = {
    "queued": "queued",
    "initiated": "sending",
    "ringing": "sending",
    "in-progress": "sent",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
}
CALL_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
INBOUND_STATUSES = frozenset({"receiving", "received"})
# An inbound call's voice webhook (Direction=inbound) comes `ringing` (`in-progress` once answered elsewhere).
INBOUND_CALL_STATUSES = frozenset({"ringing", "in-progress"})
# A Message (SM/MM) or Call (CA) sid: two letters and 32 hex digits.
_SID = re.compile(r"^(SM|MM|CA)[0-9a-f]{32}$")
_RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
# MediaUrl{N} of an inbound message: our account, the message, the media sid (rebuilt from these, never fetched as is).
_MEDIA_URL = re.compile(
    r"^https://api\.twilio\.com/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages/((?:MM|SM)[0-9a-f]{32})/Media/"
    r"(ME[0-9a-f]{32})$"
)
# Where Twilio's media URL redirects to: its media CDN (mms.twiliocdn.com, media.twiliocdn.com), formerly its bucket
# on S3's us-east-1 endpoint under the `media.twiliocdn.com/` path. Nothing else is followed.
MEDIA_REDIRECT_HOSTS = (
    media_fetch.Host("mms.twiliocdn.com"),
    media_fetch.Host("media.twiliocdn.com"),
    media_fetch.Host("s3-external-1.amazonaws.com", "/media.twiliocdn.com/"),
)
RECORDING_NOTICE = "This call may be recorded."
RECORDING_TIMEOUT_S = 10.0  # a worker's fetch of a recording, not a send's 1 s budget

# 400s about our own account or sender rather than the message (20003 auth, 20404 not found, 21212/21603/21606/
# 21659/21660 the `From` number): another carrier, with its own number, may still send it.
UNAVAILABLE_CODES = frozenset({"20003", "20404", "21212", "21603", "21606", "21659", "21660"})


def _error_code(payload: Any) -> str:
    code = payload.get("code") if isinstance(payload, dict) else None
    return str(code) if isinstance(code, int | str) and str(code).isdigit() else ""


def _is_rejection(status: int, code: str) -> bool:
    return status in http_client.REJECTION_STATUSES and code not in UNAVAILABLE_CODES


def twiml_say(body: str, *, notice: str = "") -> str:
    """The TwiML that reads `body` aloud (after a recording `notice`); XML-escaped, so a body cannot inject verbs."""
    said = "".join(f"<Say>{escape(text)}</Say>" for text in (notice, body) if text)
    return f"<Response>{said}</Response>"


def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's `X-Twilio-Signature` of a request to `url` with POST parameters `params`.

    As Twilio's own validator computes it: the names sorted, and a repeated name's distinct values sorted too.
    """
    data = url + "".join(name + value for name, value in sorted(set(params)))
    # Twilio's scheme is HMAC-SHA1 and nothing else: a MAC, where SHA-1's collision weakness does not apply.
    digest = hmac.new(auth_token.encode(), data.encode(), "sha1").digest()
    return base64.b64encode(digest).decode()


def _with_and_without_port(url: str) -> tuple[str, str]:
    """Twilio signs some requests with the default port in the URL and some without (its validator tries both)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    bare = parts._replace(netloc=host if parts.port in {None, default} else parts.netloc).geturl()
    ported = parts._replace(netloc=f"{host}:{parts.port or default}").geturl()
    return bare, ported


class TwilioCarrier(support.HttpCarrier):
    """Twilio's Programmable Messaging and Voice APIs, sending and receiving."""

    NAME, CHANNELS, CREDENTIALS_ENV, API_URL = NAME, CHANNELS, CREDENTIALS_ENV, API_URL

    def submit(self, msg: Outbound) -> Receipt:
        """An SMS or WhatsApp message through the Messages API, or a voice call that reads the body."""
        creds = self._credentials_for(msg)
        sid = support.credential(NAME, creds, "account_sid")
        token = support.credential(NAME, creds, "auth_token")
        to, from_ = support.e164(NAME, msg.to), support.e164(NAME, msg.from_)
        callback = support.callback_url(NAME, msg)
        fields: list[tuple[str, str]]
        if msg.channel == "voice":
            resource = "Calls.json"
            script = twiml_say(msg.body, notice=RECORDING_NOTICE if msg.record else "")
            fields = [("To", to), ("From", from_), ("Twiml", script), ("StatusCallback", callback)]
            fields += [("StatusCallbackEvent", event) for event in ("initiated", "ringing", "answered", "completed")]
            if msg.record:
                # The recording's callback carries our ref too (signed like every Twilio webhook).
                fields += [
                    ("Record", "true"),
                    ("RecordingStatusCallback", callback),
                    ("RecordingStatusCallbackEvent", "completed"),
                ]
        else:
            if msg.channel == "whatsapp":
                to, from_ = f"whatsapp:{to}", f"whatsapp:{from_}"
            # WhatsApp templates: the body arrives rendered from the approved template (Twilio matches it).
            resource = "Messages.json"
            fields = [("To", to), ("From", from_), ("StatusCallback", callback)]
            if msg.body or not msg.media:
                fields.insert(2, ("Body", msg.body))  # with media the text is optional
            # One MediaUrl field per file, as twilio-python's `media_url=[...]` sends them.
            fields += [("MediaUrl", media.url) for media in msg.media]
        headers = urllib3.util.make_headers(basic_auth=f"{sid}:{token}")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self._http.post(
            NAME,
            f"{self._api_url}/2010-04-01/Accounts/{sid}/{resource}",
            headers=headers,
            body=urlencode(fields).encode(),
        )
        answer = http_client.check(NAME, response, error_code=_error_code, is_rejection=_is_rejection)
        carrier_id = answer.get("sid") if isinstance(answer, dict) else None
        if not isinstance(carrier_id, str) or not carrier_id:
            # Twilio may have taken the message: failing over could deliver it twice, so it is not retried elsewhere.
            raise CarrierRejected(f"{NAME} accepted the message without a sid", code="malformed-receipt")
        return Receipt(carrier=NAME, carrier_message_id=carrier_id)

    def verify(self, request: WebhookRequest) -> bool:
        """`X-Twilio-Signature` over the exact public URL (query included) and the sorted POST parameters."""
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header:
            return False
        tokens = support.signing_keys(self._credentials(), "auth_token")
        if not tokens:
            logger.error("twilio auth_token missing: every webhook is refused")
            return False
        params, given = support.form(request), header.strip().encode()
        urls = [spelled for url in (request.url, *request.url_spellings) for spelled in _with_and_without_port(url)]
        matches = [
            hmac.compare_digest(signature(token, url, params).encode(), given) for token in tokens for url in urls
        ]
        return any(matches)  # every candidate compared: timing does not tell which token or spelling matched

    def handshake(self, request: WebhookRequest) -> str | None:
        """Twilio has no subscription handshake."""
        return None

    def parse(self, request: WebhookRequest) -> list[CarrierEvent]:
        """A message or call status callback, or an inbound message (one event per request)."""
        params = dict(support.form(request))
        if params.get("RecordingSid"):
            event = _recording_event(params)
        elif params.get("MessageSid"):
            event = _message_event(params)
        else:
            event = _call_event(params)
        if event is not None and event.kind in ("status", "recording"):
            # Our ref rode in the StatusCallback URL's query, which the signature just verified covers.
            event = replace(event, ref=ref_of(request.query.get(support.REF_PARAM, "")))
        return [event] if event is not None else []

    def status(self, carrier_message_id: str, channel: str) -> CarrierStatus | None:
        """GET the Message (or, for voice, the Call) resource: its `status` and `error_code`; None when 404."""
        creds = self._credentials()
        sid = support.credential(NAME, creds, "account_sid")
        token = support.credential(NAME, creds, "auth_token")
        resource, mapping = ("Calls", CALL_STATUS_MAP) if channel == "voice" else ("Messages", MESSAGE_STATUS_MAP)
        if not _SID.fullmatch(carrier_message_id):
            return None  # not an id Twilio issues: never put into a URL path
        # A 404 is 20404, no such resource (our credentials failing answer 401: retried).
        return self._fetch_status(
            f"{self._api_url}/2010-04-01/Accounts/{sid}/{resource}/{carrier_message_id}.json",
            urllib3.util.make_headers(basic_auth=f"{sid}:{token}"),
            field="status",
            mapping=mapping,
            error_code=_error_code,
        )

    def _recording_url(self, recording_ref: str, suffix: str) -> tuple[str, dict[str, str]]:
        creds = self._credentials()
        sid = support.credential(NAME, creds, "account_sid")
        token = support.credential(NAME, creds, "auth_token")
        if not _RECORDING_SID.fullmatch(recording_ref):
            raise CarrierRejected(f"{NAME}: not a recording sid", code="invalid-recording")
        url = f"{self._api_url}/2010-04-01/Accounts/{sid}/Recordings/{recording_ref}{suffix}"
        return url, urllib3.util.make_headers(basic_auth=f"{sid}:{token}")

    def fetch_recording(self, recording_ref: str, *, max_bytes: int) -> bytes:
        """GET `.../Recordings/{sid}.wav` (Twilio answers the WAV itself; no redirect is followed)."""
        url, headers = self._recording_url(recording_ref, ".wav")
        response = self._http.fetch(NAME, url, headers=headers, max_bytes=max_bytes, timeout_s=RECORDING_TIMEOUT_S)
        if response.status != 200:
            raise CarrierUnavailable(f"{NAME} answered HTTP {response.status} for a recording")
        return response.body

    def fetch_media(self, ref: str, *, max_bytes: int) -> bytes:
        """An inbound message's file: its MediaUrl rebuilt from the verified sids on our API URL, HTTP Basic there;
        Twilio's redirect is followed to its media CDN only (MEDIA_REDIRECT_HOSTS), without our credentials."""
        creds = self._credentials()
        sid = support.credential(NAME, creds, "account_sid")
        token = support.credential(NAME, creds, "auth_token")
        found = _MEDIA_URL.fullmatch(ref)
        if found is None or found.group(1) != sid:
            raise media_fetch.MediaRefused("not_allowed", "not a media URL of our Twilio account")
        path = f"/2010-04-01/Accounts/{sid}/Messages/{found.group(2)}/Media/{found.group(3)}"
        faked = self._api_url != API_URL  # tests only (a fake carrier on loopback): never deployed
        api_host = urlsplit(self._api_url).hostname or ""
        return media_fetch.fetch(
            NAME,
            f"{self._api_url}{path}",
            headers=urllib3.util.make_headers(basic_auth=f"{sid}:{token}"),
            allowed=(media_fetch.Host(api_host, path),),
            redirect_hosts=(media_fetch.Host(api_host),) if faked else MEDIA_REDIRECT_HOSTS,
            loopback=faked,
            max_bytes=max_bytes,
        )

    def delete_recording(self, recording_ref: str) -> None:
        """DELETE `.../Recordings/{sid}.json`: 204, or 404 when it is gone already."""
        url, headers = self._recording_url(recording_ref, ".json")
        response = self._http.delete(NAME, url, headers=headers)
        if response.status not in (200, 204, 404):
            raise CarrierUnavailable(f"{NAME} answered HTTP {response.status} to a recording's deletion")


def _recording_event(params: dict[str, str]) -> CarrierEvent | None:
    """A recording status callback: only `completed` recordings are fetched (then deleted at Twilio)."""
    recording, call = params.get("RecordingSid", ""), params.get("CallSid", "")
    if params.get("RecordingStatus") != "completed" or not _RECORDING_SID.fullmatch(recording):
        logger.info(
            "twilio recording callback ignored", extra={"carrier_status": params.get("RecordingStatus", "")[:32]}
        )
        return None
    return CarrierEvent(
        kind="recording",
        carrier=NAME,
        event_id=f"{recording}:completed",
        at=support.now(),
        carrier_message_id=call,
        recording_ref=recording,
    )


def _message_event(params: dict[str, str]) -> CarrierEvent | None:
    sid = params["MessageSid"]
    theirs = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if theirs in INBOUND_STATUSES:
        return _inbound_message(sid, params)
    status = MESSAGE_STATUS_MAP.get(theirs)
    if status is None:
        logger.info("twilio message status ignored", extra={"carrier_status": theirs[:32]})
        return None
    return _status(sid, theirs, status, params)


def _inbound_message(sid: str, params: dict[str, str]) -> CarrierEvent | None:
    """An SMS, MMS or WhatsApp message to one of our numbers: text, files (MediaUrlN), a quick-reply button or
    list row (ButtonText / ListTitle), and on WhatsApp the message it replies to (OriginalRepliedMessageSid)."""
    sender = params.get("From", "")
    body = params.get("Body", "")
    extra: dict[str, str] = {}
    media = support.form_media(params, count="NumMedia", url="MediaUrl", content_type="MediaContentType")
    message_type = "text"
    if media:
        message_type = "media"
        if params.get("MessageType") == "sticker":  # WhatsApp stickers arrive as image/webp files
            media = tuple(replace(m, kind="sticker") for m in media)
    elif params.get("ButtonText") or params.get("ListTitle"):
        message_type = "button"
        body = params.get("ButtonText") or params.get("ListTitle") or ""
        extra["payload"] = (params.get("ButtonPayload") or params.get("ListId") or "")[:256]
    elif params.get("MessageType") not in (None, "", "text"):
        message_type = "other"  # a location, a contact card, a reaction: no text of its own
    return support.form_inbound(
        NAME,
        event_id=sid,
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms",
        sender=sender,
        to=params.get("To", ""),
        body=body,
        message_type=message_type,
        media=media,
        reply_to=params.get("OriginalRepliedMessageSid", ""),
        extra=extra,
    )


def _call_event(params: dict[str, str]) -> CarrierEvent | None:
    sid, theirs = params.get("CallSid", ""), params.get("CallStatus", "")
    if params.get("Direction") == "inbound":
        return _inbound_call(sid, theirs, params)
    status = CALL_STATUS_MAP.get(theirs)
    if not sid or status is None:
        logger.info("twilio callback ignored", extra={"carrier_status": theirs[:32]})
        return None
    event = _status(sid, theirs, status, params)
    return replace(event, call=_call_details(params)) if theirs in CALL_FINAL_STATUSES else event


def _call_details(params: dict[str, str]) -> dict[str, str]:
    """What Twilio's final call callback says of the call: `CallDuration`, `AnsweredBy` (with machine detection)
    and, when it is given, the price (Twilio's callbacks carry it only on some accounts)."""
    names = {"CallDuration": "duration_s", "AnsweredBy": "answered_by", "Price": "price", "PriceUnit": "currency"}
    return {ours: params[theirs][:32] for theirs, ours in names.items() if params.get(theirs)}


def _inbound_call(sid: str, theirs: str, params: dict[str, str]) -> CarrierEvent | None:
    """Someone calling one of our numbers: the voice webhook (`ringing`) is the inbound call; the same call's later
    status callbacks say nothing new (the call is kept once, by its sid)."""
    if not sid or theirs not in INBOUND_CALL_STATUSES:
        logger.info("twilio inbound call callback ignored", extra={"carrier_status": theirs[:32]})
        return None
    return support.form_inbound_call(NAME, sid, params)


def reject_call_xml() -> str:
    """The TwiML that answers an inbound call: not picked up (no charge); the business sees it and may reply."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'


def _status(sid: str, theirs: str, status: str, params: dict[str, str]) -> CarrierEvent:
    """Messages and calls alike: one event per sid and Twilio status, with Twilio's error code."""
    return support.form_status(
        NAME, event_id=f"{sid}:{theirs}", message_id=sid, status=status, error_code=params.get("ErrorCode", "")
    )
