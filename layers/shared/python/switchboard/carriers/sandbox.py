"""Sandbox carriers (`sandbox-a`, `sandbox-b`): no network, every channel, deliveries kept in process memory."""

from __future__ import annotations

import array
import hashlib
import hmac
import io
import json
import math
import re
import struct
import threading
import wave
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from switchboard import catalog, clock, ids
from switchboard.carriers.base import (
    INBOUND_TYPES,
    MEDIA_KINDS,
    CarrierEvent,
    CarrierStatus,
    CarrierTimeout,
    CarrierUnavailable,
    Media,
    Outbound,
    Receipt,
    WebhookRequest,
    ref_of,
)

NAMES: tuple[str, ...] = ("sandbox-a", "sandbox-b")
DEFAULT_TIMEOUT_S = 1.0  # the total per-call timeout every adapter enforces (R63)
SECRET_ENV = "SANDBOX_CREDENTIALS_SECRET"  # noqa: S105 - the env var naming the secret, not a secret
CHANNELS = frozenset(catalog.CHANNELS)
STATUSES = frozenset({"sent", "delivered", "read", "failed", "undelivered"})
SIGNATURE_HEADER = "X-Sandbox-Signature"
SIGNATURE_TOLERANCE_S = 300
MAX_MEDIA = 10
RECORDING_RATE_HZ = 8000  # telephone audio: 8 kHz, 16-bit, mono
RECORDING_SECONDS = 0.5
CALL_DURATION_S = "3"  # what the sandbox reports of every call it "places"
MEDIA_PATH = "/_local/carrier-media/"  # the local stack's "carrier media host" (local/routes.py)
_MEDIA_ID = re.compile(r"^sbxmed_[0-9a-z]{26}$")


class State(StrEnum):
    """How a sandbox carrier behaves: `down` fails every send at once, `slow` hangs past the caller's timeout."""

    UP = "up"
    DOWN = "down"
    SLOW = "slow"


@dataclass(frozen=True)
class Delivery:
    """One message a sandbox carrier accepted."""

    carrier: str
    from_: str
    to: str
    channel: str
    body: str
    message_id: str
    carrier_message_id: str
    at: str  # RFC 3339, from the platform clock
    media: tuple[dict[str, str], ...] = ()  # {url, content_type, kind}: the links the carrier was handed

    def as_json(self) -> dict[str, Any]:
        """The `/_local/deliveries` shape (API.md), with what the carrier fetched of each media link."""
        out: dict[str, Any] = {
            "carrier": self.carrier,
            "from": self.from_,
            "to": self.to,
            "channel": self.channel,
            "body": self.body,
            "message_id": self.message_id,
            "at": self.at,
        }
        if self.media:
            with _store.lock:
                fetched = [_store.fetched.get(m["url"]) for m in self.media]
            out["media"] = [{**m, "fetched": f} for m, f in zip(self.media, fetched, strict=True)]
        return out


class _Store:
    """Process-wide state of the sandbox carriers; workers and the local gateway share it across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, State] = dict.fromkeys(NAMES, State.UP)
        self.deliveries: list[Delivery] = []
        # Status callbacks the carriers owe (a real carrier posts them to our events route a moment later).
        self.callbacks: list[dict[str, str]] = []
        # What each carrier's status API answers, by carrier message id (carrier, status).
        self.statuses: dict[str, tuple[str, str]] = {}
        # Carriers that accept messages but never post their receipts (the reconciliation job's case).
        self.silent: set[str] = set()
        # Call recordings the carriers keep until the platform deletes them (by recording id), and those deleted.
        self.recordings: dict[str, bytes] = {}
        self.deleted_recordings: list[str] = []
        # Files of simulated inbound messages, served by the local stack's carrier media host (by media id).
        self.media: dict[str, tuple[str, bytes]] = {}
        # What fetching each media link gave (by URL): {status, sha256, content_type, bytes}.
        self.fetched: dict[str, dict[str, Any]] = {}
        self.fetches: list[str] = []  # media links the carriers still have to fetch
        # Set by reset() so a `slow` send that is hanging returns promptly when the stack stops.
        self.released = threading.Event()


_store = _Store()


def state(carrier: str) -> State:
    """The current state of one sandbox carrier (KeyError when there is no such carrier)."""
    with _store.lock:
        return _store.states[carrier]


def states() -> dict[str, State]:
    """Every sandbox carrier's state."""
    with _store.lock:
        return dict(_store.states)


def set_state(carrier: str, new: State) -> None:
    """Simulate an outage or a recovery (KeyError when there is no such carrier)."""
    with _store.lock:
        if carrier not in _store.states:
            raise KeyError(carrier)
        _store.states[carrier] = new


def set_receipts(carrier: str, *, on: bool) -> None:
    """Whether a carrier posts status callbacks for what it accepts from now on (KeyError for no such carrier)."""
    with _store.lock:
        if carrier not in _store.states:
            raise KeyError(carrier)
        if on:
            _store.silent.discard(carrier)
        else:
            _store.silent.add(carrier)


def receipts_on(carrier: str) -> bool:
    """Whether the carrier posts status callbacks."""
    with _store.lock:
        return carrier not in _store.silent


def set_status(carrier_message_id: str, status: str | None) -> None:
    """What the status API answers for one message from now on (None: it no longer knows the message)."""
    with _store.lock:
        if status is None:
            _store.statuses.pop(carrier_message_id, None)
            return
        if status not in STATUSES:
            raise ValueError(f"unknown sandbox status {status!r}")
        carrier, _ = _store.statuses[carrier_message_id]
        _store.statuses[carrier_message_id] = (carrier, status)


def deliveries() -> list[Delivery]:
    """Every delivery so far, newest first."""
    with _store.lock:
        return list(reversed(_store.deliveries))


def reset() -> None:
    """Every carrier up, no deliveries; releases sends hanging in `slow` (tests and shutdown)."""
    with _store.lock:
        _store.states = dict.fromkeys(NAMES, State.UP)
        _store.deliveries.clear()
        _store.callbacks.clear()
        _store.statuses.clear()
        _store.silent.clear()
        _store.recordings.clear()
        _store.deleted_recordings.clear()
        _store.media.clear()
        _store.fetched.clear()
        _store.fetches.clear()
        _store.released.set()
        _store.released = threading.Event()


class SandboxCarrier:
    """A carrier that records deliveries instead of sending them."""

    def __init__(self, name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if name not in NAMES:
            raise ValueError(f"unknown sandbox carrier {name!r}")
        self.name = name
        self.timeout_s = timeout_s

    def submit(self, msg: Outbound) -> Receipt:
        """Record the delivery, or fail as the carrier's state says."""
        with _store.lock:
            current = _store.states[self.name]
            released = _store.released
        if current is State.DOWN:
            raise CarrierUnavailable(f"{self.name} is down")
        if current is State.SLOW:
            # A hung carrier: the caller waits its whole timeout, then gives up (never longer, so tests end).
            released.wait(self.timeout_s)
            raise CarrierTimeout(f"{self.name} did not answer within {self.timeout_s}s")
        receipt = Receipt(carrier=self.name, carrier_message_id=ids.new_id("sbx"))
        delivery = Delivery(
            carrier=self.name,
            from_=msg.from_,
            to=msg.to,
            channel=msg.channel,
            body=msg.body,
            message_id=msg.message_id,
            carrier_message_id=receipt.carrier_message_id,
            at=clock.rfc3339(clock.now()),
            media=tuple({"url": m.url, "content_type": m.content_type, "kind": m.kind} for m in msg.media),
        )
        callback = {
            "type": "message.status",
            "id": f"sbxevt_{ids.new_id('evt')[4:]}",
            "carrier": self.name,
            "carrier_message_id": receipt.carrier_message_id,
            "status": "delivered",
            "at": delivery.at,
        }
        if msg.callback_ref:
            callback["ref"] = msg.callback_ref  # echoed like a real carrier's callback URL query
        owed = [callback]
        recording: tuple[str, bytes] | None = None
        if msg.channel == "voice":
            callback |= {"duration_s": CALL_DURATION_S, "answered_by": "human"}
            if msg.record:
                recording = (ids.new_id("sbxrec"), tone_wav())
                owed.append(
                    {
                        "type": "recording.completed",
                        "id": f"sbxevt_{ids.new_id('evt')[4:]}",
                        "carrier": self.name,
                        "carrier_message_id": receipt.carrier_message_id,
                        "recording_id": recording[0],
                        "at": delivery.at,
                        **({"ref": msg.callback_ref} if msg.callback_ref else {}),
                    }
                )
        with _store.lock:
            _store.deliveries.append(delivery)
            _store.statuses[receipt.carrier_message_id] = (self.name, "delivered")
            if recording is not None:
                _store.recordings[recording[0]] = recording[1]
            # A real carrier fetches the media as it takes the message, before it reports it delivered: the local
            # stack's callback pump fetches each link through the gateway first (`take_owed`).
            _store.fetches.extend(m.url for m in msg.media)
            if self.name not in _store.silent:
                _store.callbacks.extend(owed)
        return receipt

    def fetch_recording(self, recording_ref: str, *, max_bytes: int) -> bytes:
        """A recording the sandbox kept (CarrierUnavailable when it has none: deleted, or never made)."""
        with _store.lock:
            audio = _store.recordings.get(recording_ref)
        if audio is None or len(audio) > max_bytes:
            raise CarrierUnavailable(f"{self.name} has no recording {recording_ref[:40]!r} to fetch")
        return audio

    def fetch_media(self, ref: str, *, max_bytes: int) -> bytes:
        """An inbound file, over HTTP from the local stack's carrier media host like a real carrier's (the URL is
        built from the id: `{PUBLIC_BASE_URL}/_local/carrier-media/{id}`, loopback only)."""
        from switchboard import settings  # noqa: PLC0415
        from switchboard.carriers import media_fetch  # noqa: PLC0415

        if not _MEDIA_ID.fullmatch(ref):
            raise media_fetch.MediaRefused("not_allowed", "not a sandbox media id")
        base = settings.get().public_base_url.rstrip("/")
        host = urlsplit(base).hostname or ""
        return media_fetch.fetch(
            self.name,
            f"{base}{MEDIA_PATH}{ref}",
            headers={},
            allowed=(media_fetch.Host(host, MEDIA_PATH),),
            loopback=True,  # the sandbox exists only where its media host is the local stack on loopback
            max_bytes=max_bytes,
        )

    def delete_recording(self, recording_ref: str) -> None:
        """Forget a recording (gone already is success); each delete is recorded for tests."""
        with _store.lock:
            if _store.states[self.name] is not State.UP:
                raise CarrierUnavailable(f"{self.name} is {_store.states[self.name].value}")
            _store.recordings.pop(recording_ref, None)
            _store.deleted_recordings.append(recording_ref)

    def status(self, carrier_message_id: str, channel: str) -> CarrierStatus | None:
        """The sandbox's status API: what became of a message it accepted; CarrierUnavailable while it is down."""
        with _store.lock:
            current = _store.states[self.name]
            known = _store.statuses.get(carrier_message_id)
        if current is not State.UP:
            raise CarrierUnavailable(f"{self.name}'s status API is {current.value}")
        if known is None or known[0] != self.name:
            return None
        return CarrierStatus(status=known[1])

    def verify(self, request: WebhookRequest) -> bool:
        """The `X-Sandbox-Signature` over the raw body, with the SandboxCredentials `signing_key`, within 300 s."""
        from switchboard.crypto import secret_store  # noqa: PLC0415 - boto3 only once an event arrives

        key = str(secret_store.get_json(SECRET_ENV)["signing_key"])
        header = request.headers.get(SIGNATURE_HEADER.lower())
        return verify(key, header, request.raw_body, now=clock.timestamp())

    def parse(self, request: WebhookRequest) -> list[CarrierEvent]:
        """`message.inbound` and `message.status` events (ValueError for anything else)."""
        return [parse_event(self.name, json.loads(request.raw_body))]

    def handshake(self, request: WebhookRequest) -> str | None:
        """The sandbox has no subscription handshake."""
        return None


def _field(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise ValueError(f"sandbox event field {name!r} is missing or not a string")
    return value


def parse_event(carrier: str, event: Any) -> CarrierEvent:
    """One sandbox event body as a CarrierEvent."""
    if not isinstance(event, dict):
        raise ValueError("a sandbox event is a JSON object")
    kind = event.get("type")
    if kind == "message.status":
        status = _field(event, "status")
        if status not in STATUSES:
            raise ValueError("unknown sandbox status")
        return CarrierEvent(
            kind="status",
            carrier=carrier,
            event_id=_field(event, "id"),
            at=_field(event, "at"),
            carrier_message_id=_field(event, "carrier_message_id"),
            status=status,
            error_code=str(event.get("error_code") or ""),
            ref=ref_of(str(event.get("ref") or "")),
            call=_call(event),
        )
    if kind == "recording.completed":
        return CarrierEvent(
            kind="recording",
            carrier=carrier,
            event_id=_field(event, "id"),
            at=_field(event, "at"),
            carrier_message_id=_field(event, "carrier_message_id"),
            recording_ref=_field(event, "recording_id"),
            ref=ref_of(str(event.get("ref") or "")),
        )
    if kind == "message.inbound":
        channel = _field(event, "channel")
        if channel not in CHANNELS:
            raise ValueError("unknown sandbox channel")
        body = event.get("body")
        if not isinstance(body, str) or len(body) > 4096:
            raise ValueError("sandbox inbound body must be a string")
        extra = event.get("extra") or {}
        message_type = event.get("kind", "text")
        if message_type not in INBOUND_TYPES:
            raise ValueError("unknown sandbox inbound kind")
        reply_to = event.get("reply_to") or ""
        if not isinstance(reply_to, str) or len(reply_to) > 256:
            raise ValueError("sandbox reply_to must be a carrier message id")
        return CarrierEvent(
            kind="inbound",
            carrier=carrier,
            event_id=_field(event, "id"),
            at=_field(event, "received_at"),
            channel=channel,
            from_=_field(event, "from"),
            to=_field(event, "to"),
            body=body,
            extra={str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
            message_type=message_type,
            media=_media(event.get("media")),
            reply_to=reply_to,
        )
    raise ValueError("unknown sandbox event type")


def _call(event: dict[str, Any]) -> dict[str, str]:
    """What a voice status callback says of the call (duration, who answered), short strings only."""
    return {
        name: value[:32]
        for name in ("duration_s", "answered_by", "price", "currency")
        if isinstance(value := event.get(name), str) and value
    }


def _media(value: Any) -> tuple[Media, ...]:
    """A sandbox inbound message's files: `[{kind, id, content_type?}]`, like WhatsApp's media ids."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MEDIA:
        raise ValueError(f"sandbox media is a list of at most {MAX_MEDIA} files")
    files = []
    for entry in value:
        if not isinstance(entry, dict) or entry.get("kind") not in MEDIA_KINDS:
            raise ValueError("a sandbox media file has a kind: " + ", ".join(sorted(MEDIA_KINDS)))
        content_type = entry.get("content_type") or ""
        if not isinstance(content_type, str):
            raise ValueError("a sandbox media content_type is a string")
        files.append(Media(kind=entry["kind"], ref=_field(entry, "id"), content_type=content_type[:128]))
    return tuple(files)


def tone_wav(seconds: float = RECORDING_SECONDS, hz: int = 440) -> bytes:
    """A short sine tone as a WAV file (the standard library's `wave`): the sandbox's "recording" of a call."""
    frames = int(RECORDING_RATE_HZ * seconds)
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * hz * n / RECORDING_RATE_HZ)) for n in range(frames)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RECORDING_RATE_HZ)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def put_media(content_type: str, data: bytes) -> str:
    """Keep a file for a simulated inbound message; its media id (what the inbound event carries)."""
    media_id = ids.new_id("sbxmed")
    with _store.lock:
        _store.media[media_id] = (content_type, data)
    return media_id


def media(media_id: str) -> tuple[str, bytes] | None:
    """A kept inbound file (content type, bytes), or None."""
    with _store.lock:
        return _store.media.get(media_id)


def media_ids() -> list[str]:
    """Every media id handed out, oldest first."""
    with _store.lock:
        return list(_store.media)


def png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 30, 60), payload: bytes = b"") -> bytes:
    """A small valid PNG (the standard library's zlib and struct): the sandbox's generated inbound picture;
    `payload` goes in a private ancillary chunk (any size, recognisable, ignored by viewers)."""
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    private = chunk(b"prVt", payload) if payload else b""
    return b"\x89PNG\r\n\x1a\n" + header + private + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def recordings() -> dict[str, bytes]:
    """The recordings the sandbox carriers still keep, by recording id."""
    with _store.lock:
        return dict(_store.recordings)


def deleted_recordings() -> list[str]:
    """The recording ids the platform deleted at the sandbox carriers, oldest first."""
    with _store.lock:
        return list(_store.deleted_recordings)


def record_fetch(url: str, *, status: int, body: bytes, content_type: str) -> None:
    """What fetching a media link gave: its status, and the bytes' SHA-256, type and size (shown in deliveries)."""
    result: dict[str, Any] = {"status": status}
    if status == 200:
        result |= {"sha256": hashlib.sha256(body).hexdigest(), "content_type": content_type, "bytes": len(body)}
    with _store.lock:
        _store.fetched[url] = result


def take_owed() -> tuple[list[str], list[dict[str, str]]]:
    """The media links to fetch and the status callbacks owed so far, taken together (a message's links are fetched
    before its callbacks are posted), oldest first."""
    with _store.lock:
        fetches, _store.fetches = _store.fetches, []
        owed, _store.callbacks = _store.callbacks, []
    return fetches, owed


def take_callbacks() -> list[dict[str, str]]:
    """The status callbacks owed so far, oldest first (each is handed out once)."""
    with _store.lock:
        owed, _store.callbacks = _store.callbacks, []
    return owed


def sign(key: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`: how a sandbox carrier signs its events.

    The key is the SandboxCredentials secret's `signing_key` string, used as its UTF-8 bytes.
    """
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(key: str, header: str | None, body: bytes, *, now: float, tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """True when `header` is a valid sandbox signature of `body`, made within `tolerance_s` of `now`."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    stamp = parts.get("t", "")
    # ASCII digits only: int() reads Arabic-Indic digits as a time, and refuses one of 5,000 digits (ValueError).
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(key, body, timestamp).split("v1=", 1)[1]
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, which was a 500).
    return hmac.compare_digest(expected.encode(), parts.get("v1", "").encode())
