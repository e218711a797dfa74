"""WhatsApp Cloud API (Meta Graph API): send text and template messages, verify and parse Meta's webhooks.

Wire formats, as documented by Meta:
- Send: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages (POST
  `/{version}/{phone-number-id}/messages`, Bearer token; the answer's `messages[0].id` is the message id).
- Webhooks: https://developers.facebook.com/docs/graph-api/webhooks/getting-started (GET handshake with
  `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`; POSTs signed `X-Hub-Signature-256: sha256=<hex
  HMAC-SHA256(app secret, raw body)>`), payloads per
  https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components (`statuses[]`, `messages[]`) and the
  `user_preferences` webhook (marketing messages `stop` / `resume`).
- `biz_opaque_callback_data` (send) is echoed in each `statuses[]` webhook of that message: it carries our ref. The
  Cloud API has no endpoint to ask for a message's status, so a receipt that never comes cannot be looked up.
- Inbound media: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media (GET
  `/{version}/{media-id}` with the bearer token → `{url, mime_type, sha256, file_size, id}`; the `url`, on
  `lookaside.fbsbx.com`, is fetched with the same bearer token and is good for 5 minutes). Image, audio, video,
  document and sticker messages carry `{id, mime_type, caption?, filename?}` under their type.
- Errors: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes (Meta asks to branch on the
  `code`, not on the HTTP status, which is 400 for most of them).

Secret `WhatsAppCredentials` (env WHATSAPP_CREDENTIALS_SECRET):
`{"access_token": "<system-user token>", "app_secret": "<Meta app secret>", "verify_token": "<our random string>",
"phone_number_ids": {"+15550001111": "<phone-number-id>", ...}}`; during a rotation of the app secret,
`previous_app_secret` is accepted too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from switchboard.carriers import http_client, media_fetch, support
from switchboard.carriers.base import (
    MEDIA_KINDS,
    CarrierEvent,
    CarrierRejected,
    CarrierUnavailable,
    Media,
    Outbound,
    OutboundMedia,
    Receipt,
    WebhookRequest,
    ref_of,
)
from switchboard.models.message_status import MessageStatus
from switchboard.observability import logger

NAME = "whatsapp"
CHANNELS = frozenset({"whatsapp"})
CREDENTIALS_ENV = "WHATSAPP_CREDENTIALS_SECRET"
GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
SIGNATURE_HEADER = "x-hub-signature-256"
MEDIA_HOST = "lookaside.fbsbx.com"  # where the Cloud API's media URLs point (the only host their bytes come from)
MEDIA_INFO_MAX_BYTES = 16 * 1024  # the media-id lookup answers a small JSON object
_MEDIA_ID = re.compile(r"^[0-9]{1,32}$")

# Meta's message statuses (webhook `statuses[].status`) onto ours; anything else is logged and ignored.
STATUS_MAP: Mapping[str, MessageStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
FINAL_STATUSES = frozenset({"read", "failed"})

# Codes that say "not now / not with these credentials", not "this message is invalid": fail over on them.
# Authorization 0, 3, 10, 190, 200-299; throttling 4, 80007, 130429, 131048, 131056; Meta-side trouble 1, 2,
# 131000, 131016, 133004; our business account or number 368, 131031, 131042, 133010.
UNAVAILABLE_CODES = frozenset(
    {0, 1, 2, 3, 4, 10, 190, 368, 80007, 130429, 131000, 131016, 131031, 131042, 131048, 131056, 133004, 133010}
    | set(range(200, 300))
)


def _error_code(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if isinstance(code, int) else ""


def _is_rejection(status: int, code: str) -> bool:
    if status in {401, 403, 404, 429} or not 400 <= status < 500:
        return False
    return not (code.isdigit() and int(code) in UNAVAILABLE_CODES)


def template_payload(template: Mapping[str, Any]) -> dict[str, Any]:
    """Our `{name, language, parameters}` as Meta's `template` object (body parameters as text)."""
    out: dict[str, Any] = {
        "name": str(template.get("name", "")),
        "language": {"code": str(template.get("language", ""))},
    }
    parameters = template.get("parameters") or []
    if parameters:
        out["components"] = [{"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in parameters]}]
    return out


def media_payload(media: OutboundMedia, caption: str) -> dict[str, Any]:
    """A media message (Cloud API `type` image, audio, video or document) by link: Meta fetches the file from it.

    A caption goes with images, videos and documents (never audio); a document also carries its file name.
    """
    part: dict[str, str] = {"link": media.url}
    if caption and media.kind != "audio":
        part["caption"] = caption
    if media.kind == "document":
        part["filename"] = media.filename
    return {"type": media.kind, media.kind: part}


class WhatsAppCarrier(support.HttpCarrier):
    """The WhatsApp Cloud API, sending and receiving."""

    NAME, CHANNELS, CREDENTIALS_ENV, API_URL = NAME, CHANNELS, CREDENTIALS_ENV, GRAPH_URL

    def __init__(
        self,
        *,
        credentials: support.CredentialSource | None = None,
        api_url: str | None = None,
        api_version: str = API_VERSION,
        http: http_client.HttpClient | None = None,
    ) -> None:
        super().__init__(credentials=credentials, api_url=api_url, http=http)
        self._api_version = api_version

    def submit(self, msg: Outbound) -> Receipt:
        """Send one text or template message from the sender's WhatsApp phone number."""
        creds = self._credentials_for(msg)
        token = support.credential(NAME, creds, "access_token")
        numbers = creds.get("phone_number_ids")
        phone_number_id = numbers.get(msg.from_) if isinstance(numbers, dict) else None
        if not isinstance(phone_number_id, str) or not phone_number_id.isdigit():
            # Our configuration, not the message: the second WhatsApp carrier may still send it.
            raise CarrierUnavailable(f"{NAME} has no phone-number id for this sender")
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": support.e164(NAME, msg.to),
        }
        if msg.template:
            payload |= {"type": "template", "template": template_payload(msg.template)}
        elif msg.media:
            payload |= media_payload(msg.media[0], msg.body)
        else:
            payload |= {"type": "text", "text": {"body": msg.body}}
        if msg.callback_ref:
            # Meta echoes it in every status webhook of this message (at most 512 characters).
            payload["biz_opaque_callback_data"] = msg.callback_ref
        response = self._http.post(
            NAME,
            f"{self._api_url}/{self._api_version}/{phone_number_id}/messages",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            body=json.dumps(payload).encode(),
        )
        answer = http_client.check(NAME, response, error_code=_error_code, is_rejection=_is_rejection)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            # Meta may have taken the message: failing over could deliver it twice, so it is not retried elsewhere.
            raise CarrierRejected(f"{NAME} accepted the message without an id", code="malformed-receipt")
        return Receipt(carrier=NAME, carrier_message_id=message_id)

    def fetch_media(self, ref: str, *, max_bytes: int) -> bytes:
        """GET the media id on the Graph API (bearer), then its `url` on Meta's media host (bearer again)."""
        token = support.credential(NAME, self._credentials(), "access_token")
        if not _MEDIA_ID.fullmatch(ref):
            raise media_fetch.MediaRefused("not_allowed", "not a WhatsApp media id")
        faked = self._api_url != GRAPH_URL  # tests only: one fake carrier on loopback for both hosts
        graph = media_fetch.Host(urlsplit(self._api_url).hostname or "")
        headers = {"Authorization": f"Bearer {token}"}
        info_url = f"{self._api_url}/{self._api_version}/{ref}"
        info = media_fetch.fetch(
            NAME, info_url, headers=headers, allowed=(graph,), loopback=faked, max_bytes=MEDIA_INFO_MAX_BYTES
        )
        try:
            answer = json.loads(info)
        except ValueError:
            raise media_fetch.MediaRefused("not_found", "the media lookup answered no JSON") from None
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url:
            raise media_fetch.MediaRefused("not_found", "the media lookup named no URL")
        size = answer.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise media_fetch.MediaRefused("too_large", f"{size} bytes announced")
        media_host = graph if faked else media_fetch.Host(MEDIA_HOST)
        return media_fetch.fetch(NAME, url, headers=headers, allowed=(media_host,), loopback=faked, max_bytes=max_bytes)

    def verify(self, request: WebhookRequest) -> bool:
        """`X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under the app secret (constant-time)."""
        header = request.headers.get(SIGNATURE_HEADER, "")
        if request.method.upper() != "POST" or not header.startswith("sha256="):
            return False
        secrets = support.signing_keys(self._credentials(), "app_secret")
        if not secrets:
            logger.error("whatsapp app_secret missing: every webhook is refused")
            return False
        given = header.removeprefix("sha256=").strip().lower().encode()
        expected = [hmac.new(secret.encode(), request.raw_body, hashlib.sha256).hexdigest() for secret in secrets]
        matches = [hmac.compare_digest(candidate.encode(), given) for candidate in expected]
        return any(matches)  # every candidate compared: timing does not tell which secret matched

    def handshake(self, request: WebhookRequest) -> str | None:
        """Meta's subscription check: echo `hub.challenge` when `hub.verify_token` is ours."""
        if request.method.upper() != "GET" or request.query.get("hub.mode") != "subscribe":
            return None
        ours = self._credentials().get("verify_token")
        theirs = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        if not isinstance(ours, str) or not ours or not challenge:
            return None
        return challenge if hmac.compare_digest(ours.encode(), theirs.encode()) else None

    def parse(self, request: WebhookRequest) -> list[CarrierEvent]:
        """Statuses, inbound messages and marketing-preference changes of a verified webhook."""
        try:
            payload = json.loads(request.raw_body)
        except ValueError:
            logger.warning("whatsapp webhook is not JSON")
            return []
        events: list[CarrierEvent] = []
        for entry in _dicts(payload, "entry"):
            for change in _dicts(entry, "changes"):
                value = change.get("value")
                if isinstance(value, dict):
                    events.extend(_value_events(value))
        return events


def _dicts(parent: Any, key: str) -> list[dict[str, Any]]:
    items = parent.get(key) if isinstance(parent, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _dict(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _str(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _value_events(value: dict[str, Any]) -> list[CarrierEvent]:
    ours = support.to_e164(_str(_dict(value, "metadata"), "display_phone_number"))
    events = [event for status in _dicts(value, "statuses") if (event := _status_event(status)) is not None]
    events += [event for message in _dicts(value, "messages") if (event := _inbound_event(message, ours)) is not None]
    events += [event for pref in _dicts(value, "user_preferences") if (event := _preference_event(pref, ours))]
    return events


def _status_event(status: dict[str, Any]) -> CarrierEvent | None:
    message_id, theirs = _str(status, "id"), _str(status, "status")
    ours = STATUS_MAP.get(theirs)
    if not message_id or ours is None:
        logger.info("whatsapp status ignored", extra={"carrier_status": theirs[:32]})
        return None
    errors = _dicts(status, "errors")
    return CarrierEvent(
        kind="status",
        carrier=NAME,
        event_id=f"{message_id}:{theirs}",
        at=support.at_unix(status.get("timestamp")),
        carrier_message_id=message_id,
        status=ours,
        error_code=_str(errors[0], "code") if errors else "",
        ref=ref_of(_str(status, "biz_opaque_callback_data")),
    )


def _inbound_event(message: dict[str, Any], ours: str) -> CarrierEvent | None:
    message_id, sender, kind = _str(message, "id"), support.to_e164(_str(message, "from")), _str(message, "type")
    if not message_id or not sender or not ours:
        logger.info("whatsapp inbound message ignored: no id or numbers")
        return None
    extra: dict[str, str] = {"type": kind}
    body, message_type = "", "other"
    media: tuple[Media, ...] = ()
    part = _dict(message, kind)
    if kind == "text":
        body, message_type = _str(part, "body"), "text"
    elif kind == "button":  # a quick-reply button of a template, e.g. "Stop promotions"
        body, message_type = _str(part, "text"), "button"
        extra["payload"] = _str(part, "payload")[:256]
    elif kind == "interactive":  # a reply button or list row of an interactive message of ours
        reply = _dict(part, _str(part, "type"))
        if _str(part, "type") in {"button_reply", "list_reply"} and reply:
            body, message_type = _str(reply, "title"), "button"
            extra["payload"] = _str(reply, "id")[:256]
    elif kind in MEDIA_KINDS:
        body, message_type = _str(part, "caption"), "media"
        media = (
            Media(
                kind=kind,
                ref=_str(part, "id"),
                content_type=_str(part, "mime_type")[:128],
                filename=_str(part, "filename")[:256],
            ),
        )
    elif kind == "system" and _str(part, "type") == "user_preference_changed":
        extra["marketing_messages"] = _str(part, "marketing")
        message_type = "preference"
    # What it answers: the wamid of one of our messages (a reply quoting it, or a reaction to it).
    reply_to = _str(_dict(message, "context"), "id") or (_str(part, "message_id") if kind == "reaction" else "")
    return CarrierEvent(
        kind="inbound",
        carrier=NAME,
        event_id=message_id,
        at=support.at_unix(message.get("timestamp")),
        channel="whatsapp",
        from_=sender,
        to=ours,
        body=body,
        extra=extra,
        message_type=message_type,
        media=media,
        reply_to=reply_to[:256],
    )


def _preference_event(pref: dict[str, Any], ours: str) -> CarrierEvent | None:
    sender, value = support.to_e164(_str(pref, "wa_id")), _str(pref, "value")
    if _str(pref, "category") != "marketing_messages" or value not in {"stop", "resume"} or not sender or not ours:
        logger.info("whatsapp user preference ignored")
        return None
    timestamp = _str(pref, "timestamp")
    return CarrierEvent(
        kind="inbound",
        carrier=NAME,
        event_id=f"pref:{sender}:{value}:{timestamp}",
        at=support.at_unix(timestamp),
        channel="whatsapp",
        from_=sender,
        to=ours,
        extra={"type": "user_preferences", "marketing_messages": value},
        message_type="preference",
    )
