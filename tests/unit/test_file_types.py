"""The sniffing table: each type recognised from a real minimal header, never from a client's word."""

from __future__ import annotations

import struct
import zlib

import pytest

from switchboard import files
from switchboard.files import ContentMismatch, FileTooLarge, NotAllowedMedia


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom" + b"\x00\x00\x00\x08free"


def _riff(kind: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + kind + body


WAV_FMT = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", 2) + b"\x00\x00"
OGG_PAGE = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13" + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"

SAMPLES: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
    "image/png": _png(),
    "image/gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00"
    b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    "image/webp": _riff(b"WEBP", b"VP8L\x0a\x00\x00\x00\x2f\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
    "application/pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    "video/mp4": _ftyp(b"isom"),
    "video/3gpp": _ftyp(b"3gp5"),
    "audio/mp4": _ftyp(b"M4A "),
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 32,
    "audio/aac": b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 8,
    "audio/ogg": OGG_PAGE,
    "audio/amr": b"#!AMR\n\x3c" + b"\x00" * 31,
    "audio/wav": _riff(b"WAVE", WAV_FMT),
}


def test_every_stored_type_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(files.MEDIA_TYPES)


@pytest.mark.parametrize("media", sorted(SAMPLES))
def test_sniff_names_each_type_from_its_bytes(media: str) -> None:
    assert files.sniff(SAMPLES[media]) == media


def test_mp3_without_a_tag_is_found_by_its_frame_header() -> None:
    assert files.sniff(b"\xff\xfb\x90\x64" + b"\x00" * 64) == "audio/mpeg"
    # The same sync bits with a reserved version, a "bad" bitrate or a reserved rate are no frame.
    for head in (b"\xff\xeb\x90\x64", b"\xff\xfb\xf0\x64", b"\xff\xfb\x9c\x64"):
        assert files.sniff(head + b"\x00" * 64) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world",
        b"<html><body>not an image</body></html>",
        b"PK\x03\x04\x14\x00\x00\x00",  # a ZIP (and so docx, jar, apk)
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows executable
        b"\x7fELF\x02\x01\x01\x00",
        struct.pack(">I", 24) + b"ftypqt  " + b"\x00" * 12,  # QuickTime: same box, not MP4
        struct.pack(">I", 24) + b"ftypheic" + b"\x00" * 12,  # HEIF
        b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x2a\x80theora",  # Ogg video
        b"RIFF\x10\x00\x00\x00AVI LIST",
        b"#!AMR-WB\n",
    ],
)
def test_sniff_refuses_what_is_none_of_ours(data: bytes) -> None:
    assert files.sniff(data) is None


def test_checked_type_trusts_the_bytes_not_the_declared_type() -> None:
    png = SAMPLES["image/png"]
    assert files.checked_type(png, None) == "image/png"
    assert files.checked_type(png, "application/octet-stream") == "image/png"
    assert files.checked_type(png, "IMAGE/PNG; charset=binary") == "image/png"
    assert files.checked_type(SAMPLES["image/jpeg"], "image/jpg") == "image/jpeg"  # an alias is no lie
    assert files.checked_type(SAMPLES["video/mp4"], "audio/mp4") == "audio/mp4"  # one container, two names
    with pytest.raises(ContentMismatch) as lie:
        files.checked_type(SAMPLES["application/pdf"], "image/png")
    assert (lie.value.status, lie.value.instance_code) == (422, "content_mismatch")
    with pytest.raises(NotAllowedMedia) as unknown:
        files.checked_type(b"<script>alert(1)</script>", "image/png")
    assert (unknown.value.status, unknown.value.instance_code) == (415, "unsupported_media_type")


def test_check_size_refuses_past_the_limit_only() -> None:
    files.check_size(files.MAX_FILE_BYTES)
    with pytest.raises(FileTooLarge) as refused:
        files.check_size(files.MAX_FILE_BYTES + 1)
    assert (refused.value.status, refused.value.instance_code) == (413, "file_too_large")


@pytest.mark.parametrize(
    ("channel", "media", "size", "problem"),
    [
        ("whatsapp", "image/jpeg", 5_000_000, None),
        ("whatsapp", "image/jpeg", 5_000_001, "file_too_large"),
        ("whatsapp", "image/gif", 10, "unsupported_media_type"),
        ("whatsapp", "audio/ogg", 16_000_000, None),
        ("whatsapp", "video/3gpp", 16_000_001, "file_too_large"),
        ("whatsapp", "application/pdf", 20_000_000, None),
        ("sms", "image/gif", 5_000_000, None),
        ("sms", "image/gif", 5_000_001, "file_too_large"),
        ("sms", "image/webp", 10, "unsupported_media_type"),
        ("sms", "application/pdf", 100, None),
        ("voice", "audio/mpeg", 10, "unsupported_media_type"),
        ("fax", "image/png", 10, "unsupported_media_type"),
    ],
)
def test_allowed_for_applies_each_channels_types_and_sizes(
    channel: str, media: str, size: int, problem: str | None
) -> None:
    found = files.allowed_for(channel, media, size)
    assert (found.instance_code if found else None) == problem
