"""What a file may be (its type sniffed from its bytes, its size) and which channel may carry it (docs/files.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from switchboard import catalog
from switchboard.models.errors import PayloadTooLarge, ProblemError, UnsupportedMediaType
from switchboard.operators import OPS_PREFIX

MIB = 1024 * 1024
MB = 1_000_000  # carriers state their limits in decimal megabytes: the smaller unit never exceeds them
# Every stored file: the function holds the plaintext and its sealed copy in memory at once (1 GiB Lambda).
MAX_FILE_BYTES = 16 * MIB
# A body sent straight to POST /v1/files: base64 in the Lambda event (4/3) stays under Lambda's 6 MB payload.
DIRECT_MAX_BYTES = catalog.RAW_BODIES[("POST", "/v1/files")]
# One answer of GET /v1/files/{id}/content: base64 in the Lambda result (4/3) stays under the same 6 MB.
RESPONSE_MAX_BYTES = 4 * MIB
UPLOAD_URL_TTL_S = 900  # a presigned PUT is good for 15 minutes
OCTET_STREAM = "application/octet-stream"  # "I don't know": the bytes decide

JPEG, PNG, GIF, WEBP, PDF = "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"
MP4, THREE_GPP, AUDIO_MP4 = "video/mp4", "video/3gpp", "audio/mp4"
MPEG, AAC, OGG, AMR, WAV = "audio/mpeg", "audio/aac", "audio/ogg", "audio/amr", "audio/wav"

# Every type the sniffer names: what the platform stores. Anything else is 415 unsupported_media_type.
MEDIA_TYPES: tuple[str, ...] = (JPEG, PNG, GIF, WEBP, PDF, MP4, THREE_GPP, AUDIO_MP4, MPEG, AAC, OGG, AMR, WAV)
# Names clients use for the same types: a declared alias is no lie.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "image/jpg": JPEG,
        "image/pjpeg": JPEG,
        "audio/mp3": MPEG,
        "audio/x-wav": WAV,
        "audio/wave": WAV,
        "audio/vnd.wave": WAV,
        "audio/x-aac": AAC,
        "audio/aacp": AAC,
        "audio/opus": OGG,
        "audio/x-m4a": AUDIO_MP4,
        "audio/3gpp": THREE_GPP,
    }
)
# One container, two names: an MP4 holding only sound is audio/mp4 to whoever says so (the bytes cannot tell).
SAME_CONTAINER: Mapping[str, frozenset[str]] = MappingProxyType({MP4: frozenset({AUDIO_MP4})})

# Deployed, each RestApi's binaryMediaTypes (docs/files.md "Deployed: binary bodies"). The customer API's are the
# file types only, so JSON routes and their request validation are untouched; it then decodes a base64 answer only
# for a request whose first Accept type is one of them. The links API's are every type (catalog.LINKS_PREFIX): a
# carrier gets the bytes whatever Accept it sends. The operator API serves no bytes.
API_BINARY_TYPES: tuple[str, ...] = tuple(sorted({*MEDIA_TYPES, *ALIASES, OCTET_STREAM}))
LINKS_BINARY_TYPES: tuple[str, ...] = ("*/*",)


def binary_types(path: str) -> tuple[str, ...]:
    """The binaryMediaTypes of the RestApi that serves this route path (the console's are `*/*` too: its downloads
    reach a browser as bytes, catalog.CONSOLE_PREFIX)."""
    if catalog.api_of(path) is not catalog.Api.CUSTOMER:
        return LINKS_BINARY_TYPES
    return () if path.startswith(OPS_PREFIX) else API_BINARY_TYPES


# Per channel: the types its carriers take and each one's size limit (WhatsApp Cloud API media; MMS through
# Twilio and Plivo: 5 MB per message). Voice carries no media.
CHANNEL_MEDIA: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "whatsapp": MappingProxyType(
            {
                JPEG: 5 * MB,
                PNG: 5 * MB,
                AAC: 16 * MB,
                AMR: 16 * MB,
                MPEG: 16 * MB,
                AUDIO_MP4: 16 * MB,
                OGG: 16 * MB,
                MP4: 16 * MB,
                THREE_GPP: 16 * MB,
                PDF: 100 * MB,
            }
        ),
        "sms": MappingProxyType(
            dict.fromkeys((JPEG, PNG, GIF, MPEG, AUDIO_MP4, AMR, OGG, WAV, MP4, THREE_GPP, PDF), 5 * MB)
        ),
        "voice": MappingProxyType({}),
    }
)


def canonical(content_type: str | None) -> str:
    """A media type without parameters, lower case, aliases resolved ("" for none)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return ALIASES.get(media, media)


def _mpeg_audio_frame(head: bytes) -> bool:
    # An MPEG audio frame header: 11 sync bits, a defined version and layer, a bitrate and rate that exist.
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x03, (head[1] >> 1) & 0x03
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x03
    return version != 0x01 and layer != 0x00 and bitrate not in (0x00, 0x0F) and rate != 0x03


def _adts_frame(head: bytes) -> bool:
    # AAC in ADTS: 12 sync bits, layer 00, a sampling index that exists.
    return len(head) >= 7 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0x0F < 13


_ISO_BRANDS: Mapping[bytes, str] = MappingProxyType(
    {
        **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3gg6"), THREE_GPP),
        **dict.fromkeys((b"M4A ", b"M4B "), AUDIO_MP4),
        **dict.fromkeys((b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V "), MP4),
        b"dash": MP4,
    }
)


def _iso_media(data: bytes) -> str | None:
    # ISO base media (MP4, 3GPP): a first box `ftyp` whose major brand names the family. QuickTime (`qt  `) and
    # HEIF (`heic`, `mif1`) are other formats with the same box and are not ours.
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[0:4], "big")
    if size < 16 or size > 4096:
        return None
    return _ISO_BRANDS.get(data[8:12])


def _ogg_audio(data: bytes) -> bool:
    # The first page carries the codec's identification header: Opus or Vorbis (Theora video is not ours).
    return data.startswith(b"OggS") and (b"OpusHead" in data[:128] or b"\x01vorbis" in data[:128])


_Sniffer = Callable[[bytes], bool]
# Order matters only where signatures could overlap (RIFF: WebP or WAVE; 0xFF: MPEG audio or ADTS).
_SIGNATURES: tuple[tuple[_Sniffer, str], ...] = (
    (lambda d: d.startswith(b"\xff\xd8\xff"), JPEG),
    (lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"), PNG),
    (lambda d: d.startswith((b"GIF87a", b"GIF89a")), GIF),
    (lambda d: d.startswith(b"RIFF") and d[8:12] == b"WEBP", WEBP),
    (lambda d: d.startswith(b"RIFF") and d[8:12] == b"WAVE", WAV),
    (lambda d: d.startswith(b"%PDF-"), PDF),
    (lambda d: d.startswith(b"#!AMR\n"), AMR),
    (_ogg_audio, OGG),
    (lambda d: d.startswith(b"ID3") and len(d) >= 10 and d[3] in (2, 3, 4), MPEG),
    (_adts_frame, AAC),
    (_mpeg_audio_frame, MPEG),
)


def sniff(data: bytes) -> str | None:
    """The media type the bytes are (from their magic numbers, never a client's header), or None when none of ours."""
    iso = _iso_media(data)
    if iso is not None:
        return iso
    return next((media for test, media in _SIGNATURES if test(data)), None)


class ContentMismatch(ProblemError):
    """422: the bytes are another type than the one declared for them: nothing was stored."""

    status = 422
    code = "content_mismatch"
    title = "Content does not match its type"


class FileTooLarge(PayloadTooLarge):
    """413: over a size limit (the platform's, a channel's); nothing was stored."""

    code = "file_too_large"
    title = "File too large"


class NotAllowedMedia(UnsupportedMediaType):
    """415: a type the platform (or the channel) does not carry; nothing was stored."""


def checked_type(data: bytes, declared: str | None) -> str:
    """The stored type of `data`: sniffed; 415 when it is none of ours, 422 content_mismatch when the declared type
    (other than application/octet-stream or none) names another one."""
    sniffed = sniff(data)
    if sniffed is None:
        raise NotAllowedMedia(
            f"The bytes are none of the types we store ({', '.join(MEDIA_TYPES)}); nothing was stored."
        )
    claimed = canonical(declared)
    if claimed in ("", OCTET_STREAM, sniffed):
        return sniffed
    if claimed in SAME_CONTAINER.get(sniffed, frozenset()):
        return claimed
    raise ContentMismatch(f"The body was declared {claimed} but its bytes are {sniffed}; nothing was stored.")


def check_size(size: int, limit: int = MAX_FILE_BYTES) -> None:
    """413 file_too_large above `limit` (the platform's maximum by default)."""
    if size > limit:
        raise FileTooLarge(f"A file is at most {limit} bytes; this one is {size}.")


def allowed_for(channel: str, content_type: str, size: int) -> ProblemError | None:
    """Why `channel` cannot carry a file of this type and size (415 or 413 problem), or None when it can."""
    limits = CHANNEL_MEDIA.get(channel, {})
    media = canonical(content_type)
    if media not in limits:
        carried = ", ".join(sorted(limits)) or "no files"
        return NotAllowedMedia(f"The {channel} channel carries {carried}; not {media or 'this file'}.")
    if size > limits[media]:
        return FileTooLarge(f"The {channel} channel carries {media} of at most {limits[media]} bytes; this is {size}.")
    return None


# Media on sends (docs/messaging.md "Media"): a carrier fetches each file through one answer of GET /v1/media/{token}
# (base64 in the Lambda result stays under its 6 MB), and an MMS carries at most 5 MB in all (Twilio, Plivo).
LINK_MAX_BYTES = RESPONSE_MAX_BYTES
MESSAGE_MEDIA_MAX_BYTES: Mapping[str, int] = MappingProxyType({"sms": 5 * MB})
MEDIA_PER_MESSAGE: Mapping[str, int] = MappingProxyType({"whatsapp": 1, "sms": 10, "voice": 0})
EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {
        JPEG: "jpg",
        PNG: "png",
        GIF: "gif",
        WEBP: "webp",
        PDF: "pdf",
        MP4: "mp4",
        THREE_GPP: "3gp",
        AUDIO_MP4: "m4a",
        MPEG: "mp3",
        AAC: "aac",
        OGG: "ogg",
        AMR: "amr",
        WAV: "wav",
    }
)


def kind_of(content_type: str) -> str:
    """How a carrier names a file of this type: image, audio, video or document (WhatsApp's message types)."""
    major = content_type.partition("/")[0]
    return major if major in ("image", "audio", "video") else "document"
