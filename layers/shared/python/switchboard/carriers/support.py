"""What the real carrier adapters share: credentials, numbers, form bodies, event URLs and timestamps."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

from switchboard import clock, settings
from switchboard.carriers import http_client
from switchboard.carriers.base import (
    CarrierEvent,
    CarrierRejected,
    CarrierStatus,
    CarrierUnavailable,
    Media,
    Outbound,
    WebhookRequest,
)
from switchboard.crypto import secret_store
from switchboard.observability import logger

# Credentials are read on each use from the secrets cache (≤ 15 min), so a rotated token takes effect without a
# deploy; tests pass a function returning a dict instead.
CredentialSource = Callable[[], Mapping[str, Any]]
# A carrier's error code in its error answer's JSON ("" when it has none).
ErrorCode = Callable[[Any], str]

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_MEDIA = 10  # files kept of one inbound message (Twilio allows 10 per MMS)


def from_secret(env: str) -> CredentialSource:
    """Credentials read from the JSON secret named by the catalog env var `env`, on first use, never at import."""
    return lambda: secret_store.get_json(env)


class HttpCarrier:
    """What every real adapter is built from: its name and channels, credentials from Secrets Manager, one client."""

    NAME: str = ""
    CHANNELS: frozenset[str] = frozenset()
    CREDENTIALS_ENV: str = ""
    API_URL: str = ""

    def __init__(
        self,
        *,
        credentials: CredentialSource | None = None,
        api_url: str | None = None,
        http: http_client.HttpClient | None = None,
    ) -> None:
        self.name = self.NAME
        self.channels = self.CHANNELS
        self._credentials = credentials or from_secret(self.CREDENTIALS_ENV)
        self._api_url = (api_url or self.API_URL).rstrip("/")
        self._http = http or http_client.HttpClient()

    def _fetch_status(
        self, url: str, headers: Mapping[str, str], *, field: str, mapping: Mapping[str, str], error_code: ErrorCode
    ) -> CarrierStatus | None:
        """GET a message's (or call's) resource at the carrier's status API and map its `field` onto our statuses,
        with its `error_code`; None when the carrier knows no such resource (404)."""
        response = self._http.get(self.NAME, url, headers=headers)
        if response.status == 404:
            return None
        answer = http_client.check(self.NAME, response, error_code=error_code, is_rejection=lambda *_: False)
        theirs = answer.get(field) if isinstance(answer, dict) else None
        ours = mapping.get(theirs) if isinstance(theirs, str) else None
        if ours is None:
            raise CarrierUnavailable(f"{self.NAME} answered an unknown status")
        code = answer.get("error_code")
        return CarrierStatus(status=ours, error_code=str(code) if isinstance(code, int | str) and code else "")

    def _credentials_for(self, msg: Outbound) -> Mapping[str, Any]:
        """The credentials to submit `msg` with; CarrierUnavailable for a channel this carrier does not carry."""
        if msg.channel not in self.channels:
            raise CarrierUnavailable(f"{self.NAME} does not carry {msg.channel}")
        return self._credentials()


def credential(carrier: str, values: Mapping[str, Any], key: str) -> str:
    """A non-empty string field of a carrier's credentials; its absence makes the carrier unusable, not the message."""
    value = values.get(key)
    if not isinstance(value, str) or not value:
        # The key's name only: never the value.
        raise CarrierUnavailable(f"{carrier} credentials lack {key!r}")
    return value


def signing_keys(values: Mapping[str, Any], key: str) -> list[str]:
    """The current signing key and, during a rotation, the previous one (`previous_<key>`), whichever exist."""
    keys = [values.get(key), values.get(f"previous_{key}")]
    return [k for k in keys if isinstance(k, str) and k]


def e164(carrier: str, number: str) -> str:
    """`number` if it is E.164; otherwise the message is invalid at every carrier (no delimiter smuggling)."""
    if not E164.fullmatch(number):
        raise CarrierRejected(f"{carrier}: not an E.164 number", code="invalid-number")
    return number


def to_e164(digits: str) -> str:
    """A carrier's number (`15551234567`, `+1 555-123-4567`, `whatsapp:+1555…`) as E.164, or "" if it is none."""
    number = "+" + "".join(ch for ch in digits.removeprefix("whatsapp:") if ch.isdigit())
    return number if E164.fullmatch(number) else ""


def events_url(carrier: str) -> str:
    """The public URL where `carrier` posts its events (`POST /v1/carriers/{carrier}/events`, API.md)."""
    return settings.get().public_base_url.rstrip("/") + f"/v1/carriers/{carrier}/events"


# The query parameter of a status-callback URL that carries Outbound.callback_ref back to us.
REF_PARAM = "sb_ref"


def callback_url(carrier: str, msg: Outbound) -> str:
    """The status-callback URL of one message: the events URL with its ref, which the carrier signs with the rest."""
    url = events_url(carrier)
    return f"{url}?{REF_PARAM}={msg.callback_ref}" if msg.callback_ref else url


# RFC 3986 unreserved characters stay as they are in every spelling; the lenient one also leaves the sub-delimiters,
# `:`, `@`, `/` and `?` that a query may carry unencoded (what a person typing a webhook URL into a console writes).
_LENIENT_SAFE = "-._~!$'()*,;:@/?"
# Up to this many query parameters, every order is tried (5! = 120 orders, three encodings each).
MAX_PERMUTED_PAIRS = 5


def _spell(pairs: list[tuple[str, str]], encode: Callable[[str], str]) -> str:
    return "&".join(f"{encode(name)}={encode(value)}" for name, value in pairs)


def _orders(pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Every order the query could have had: each name's values keep their order (API Gateway keeps it)."""
    if len(pairs) > MAX_PERMUTED_PAIRS:
        return [pairs, sorted(pairs, key=lambda pair: pair[0])]
    orders: dict[tuple[tuple[str, str], ...], None] = {}
    for order in itertools.permutations(range(len(pairs))):
        picked = [pairs[i] for i in order]
        by_name = [[i for i in order if pairs[i][0] == name] for name in dict.fromkeys(p[0] for p in pairs)]
        if all(indexes == sorted(indexes) for indexes in by_name):
            orders.setdefault(tuple(picked), None)
    return [list(order) for order in orders]


def public_urls(path: str, query: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The public URL of a request to `path`, in each spelling its decoded query could have had, most likely first.

    API Gateway's REST proxy event has no raw query string: `multiValueQueryStringParameters` is decoded (`%20` and
    `+` both become a space) and the order of the names is not kept (the values of one name are). A carrier that
    signs the URL it called (Twilio, Plivo) signed one of these: percent-encoded (`%20`, upper-case hex),
    form-encoded (`+`) or leniently encoded, in any order of up to MAX_PERMUTED_PAIRS parameters (beyond that: as
    received or sorted by name). A signature must match one of them exactly.
    """
    base = settings.get().public_base_url.rstrip("/") + path
    if not query:
        return (base,)
    received = [(name, value) for name, values in query.items() for value in values]
    encoders: list[Callable[[str], str]] = [
        lambda text: quote_plus(text, safe=""),
        lambda text: quote(text, safe=""),
        lambda text: quote(text, safe=_LENIENT_SAFE),
    ]
    spellings = [f"{base}?{_spell(pairs, encode)}" for pairs in _orders(received) for encode in encoders]
    return tuple(dict.fromkeys(spellings))


def form(request: WebhookRequest) -> list[tuple[str, str]]:
    """The urlencoded POST parameters of a webhook (empty for any other body), in the order sent."""
    content_type = request.headers.get("content-type", "")
    if request.method.upper() != "POST" or not content_type.startswith("application/x-www-form-urlencoded"):
        return []
    try:
        return parse_qsl(request.raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return []


def at_unix(value: object) -> str:
    """An RFC 3339 time from a carrier's Unix timestamp (string or number); now if it has none or a bad one."""
    try:
        return clock.rfc3339(datetime.fromtimestamp(int(str(value)), tz=UTC))
    except (ValueError, OverflowError, OSError):
        return clock.rfc3339(clock.now())


def now() -> str:
    """The platform's now, RFC 3339: carriers that send no event time get the time we received the event."""
    return clock.rfc3339(clock.now())


def form_inbound(
    carrier: str,
    *,
    event_id: str,
    channel: str,
    sender: str,
    to: str,
    body: str,
    message_type: str = "text",
    media: tuple[Media, ...] = (),
    reply_to: str = "",
    extra: Mapping[str, str] | None = None,
) -> CarrierEvent | None:
    """An inbound message (or call) of a form-encoded callback (Twilio, Plivo); None, logged, unless both numbers
    are E.164."""
    from_, ours = to_e164(sender), to_e164(to)
    if not from_ or not ours:
        logger.info(f"{carrier} inbound message ignored: numbers are not E.164")
        return None
    return CarrierEvent(
        kind="inbound",
        carrier=carrier,
        event_id=event_id,
        at=now(),
        channel=channel,
        from_=from_,
        to=ours,
        body=body,
        extra=dict(extra or {}),
        message_type=message_type,
        media=media,
        reply_to=reply_to[:256],
    )


def form_inbound_call(carrier: str, call_id: str, params: Mapping[str, str]) -> CarrierEvent | None:
    """Someone calling one of our numbers (Twilio, Plivo): an inbound `voice` event of kind `call`, kept once per
    call by the carrier's call id."""
    return form_inbound(
        carrier,
        event_id=call_id,
        channel="voice",
        sender=params.get("From", ""),
        to=params.get("To", ""),
        body="",
        message_type="call",
    )


def media_kind(content_type: str) -> str:
    """The media kind of a file by its MIME type (what is not a picture, a sound or a film is a document)."""
    major = content_type.partition("/")[0].lower()
    return major if major in {"image", "audio", "video"} else "document"


def form_media(params: Mapping[str, str], *, count: str, url: str, content_type: str) -> tuple[Media, ...]:
    """The files of a form-encoded inbound message: `count` names how many, `url` and `content_type` are the
    per-file parameter stems (`MediaUrl0`, `MediaContentType0`, ...); at most MAX_MEDIA."""
    try:
        n = min(int(params.get(count) or 0), MAX_MEDIA)
    except ValueError:
        n = 0
    found: list[Media] = []
    # Twilio numbers its files from 0, Plivo from 1 (its docs; an older article says 0): both are read, `n` at most.
    for i in range(n + 1):
        ref = params.get(f"{url}{i}", "")
        if ref and len(found) < n:
            kind_of = params.get(f"{content_type}{i}", "")[:128]
            found.append(Media(kind=media_kind(kind_of), ref=ref[:2048], content_type=kind_of))
    return tuple(found)


def form_status(carrier: str, *, event_id: str, message_id: str, status: str, error_code: str) -> CarrierEvent:
    """A status change of a form-encoded callback (Twilio, Plivo), which carries no event time: received now."""
    return CarrierEvent(
        kind="status",
        carrier=carrier,
        event_id=event_id,
        at=now(),
        carrier_message_id=message_id,
        status=status,
        error_code=error_code,
    )
