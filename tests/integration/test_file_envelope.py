"""Files sealed in segments (STREAM over AES-256-GCM): round trips, ranges, and every kind of tampering refused."""

from __future__ import annotations

import os

import pytest

from switchboard.crypto import envelope
from switchboard.crypto.envelope import HEADER_BYTES, TAG_BYTES, KeyShredded, SealedObjectError

KEY = "files/acct_a/fil_1"
SEGMENT = 64  # small segments: many of them in a few bytes


def _seal(data: bytes, account: str = "acct_a", key: str = KEY, purpose: str = "upload") -> bytes:
    return envelope.seal_bytes(account, data, purpose=purpose, object_key=key, segment_bytes=SEGMENT)


def _open(sealed: bytes, account: str = "acct_a", key: str = KEY, purpose: str = "upload") -> bytes:
    return envelope.open_bytes(account, sealed, purpose=purpose, object_key=key)


@pytest.fixture
def keys(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    envelope.create_key("acct_b")


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT, 5 * SEGMENT + 7])
def test_round_trip_at_every_segment_boundary(keys: None, size: int) -> None:
    data = os.urandom(size)
    sealed = _seal(data)
    assert len(sealed) == envelope.sealed_size(size, SEGMENT)
    assert envelope.plain_size_of(len(sealed), SEGMENT) == size
    assert _open(sealed) == data


def test_the_default_segments_round_trip_and_hide_the_plaintext(keys: None) -> None:
    data = b"%PDF-1.4 the quarterly numbers " * 70_000  # ~2 MiB: three segments of 1 MiB
    sealed = envelope.seal_bytes("acct_a", data, purpose="upload", object_key=KEY)
    assert b"quarterly" not in sealed
    assert envelope.open_bytes("acct_a", sealed, purpose="upload", object_key=KEY) == data
    assert _seal(b"same") != _seal(b"same")  # a fresh salt and nonce prefix every time


@pytest.mark.parametrize(("start", "end"), [(0, 0), (0, 63), (63, 64), (10, 200), (300, 326), (0, 326), (326, 326)])
def test_a_span_opens_from_its_segments_alone(keys: None, start: int, end: int) -> None:
    data = os.urandom(327)
    sealed = _seal(data)
    span = envelope.sealed_span(len(data), start, end, SEGMENT)
    part = envelope.open_span(
        "acct_a",
        sealed[:HEADER_BYTES],
        sealed[span.start : span.end + 1],
        span,
        plain_size=len(data),
        purpose="upload",
        object_key=KEY,
    )
    assert part == data[start : end + 1]


def _flip(sealed: bytes, at: int) -> bytes:
    return sealed[:at] + bytes([sealed[at] ^ 0x01]) + sealed[at + 1 :]


def test_tampering_anywhere_is_refused(keys: None) -> None:
    sealed = _seal(os.urandom(200))
    for at in (4, 9, 20, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 70, len(sealed) - 1):
        with pytest.raises(SealedObjectError):
            _open(_flip(sealed, at))


def test_truncation_at_a_segment_boundary_and_reordering_are_refused(keys: None) -> None:
    data = os.urandom(3 * SEGMENT)
    sealed = _seal(data)
    size = SEGMENT + TAG_BYTES
    segments = [sealed[HEADER_BYTES + i * size : HEADER_BYTES + (i + 1) * size] for i in range(3)]
    header = sealed[:HEADER_BYTES]
    with pytest.raises(SealedObjectError):  # the last segment dropped: the new last one was not sealed as last
        _open(header + segments[0] + segments[1])
    with pytest.raises(SealedObjectError):
        _open(header + segments[1] + segments[0] + segments[2])
    with pytest.raises(SealedObjectError):  # a segment appended after the final one
        _open(sealed + segments[2])
    with pytest.raises(SealedObjectError):
        _open(sealed[:-5])
    with pytest.raises(SealedObjectError):
        _open(b"not a sealed object at all, just some bytes")


@pytest.mark.parametrize(
    "moved",
    [{"account": "acct_b"}, {"key": "files/acct_a/fil_2"}, {"key": "files/acct_b/fil_1"}, {"purpose": "inbound"}],
)
def test_an_object_moved_to_another_key_account_or_purpose_does_not_open(keys: None, moved: dict[str, str]) -> None:
    sealed = _seal(b"a photo of a contract")
    with pytest.raises(SealedObjectError):
        _open(sealed, **moved)


def test_a_shredded_account_cannot_open_its_files(keys: None) -> None:
    sealed = _seal(b"gone with the key")
    envelope.shred("acct_a")
    with pytest.raises(KeyShredded):
        _open(sealed)
    with pytest.raises(KeyShredded):
        _seal(b"nor seal new ones")
