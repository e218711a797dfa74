"""Range headers of GET /v1/files/{id}/content (RFC 9110 §14): one byte range, suffixes, what is ignored, 416."""

from __future__ import annotations

import pytest

from switchboard.crypto import envelope
from switchboard.logic.files import RangeNotSatisfiable, byte_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=90-500", 100, (90, 99)),  # cut at the end
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        (" bytes=5-5 ", 100, (5, 5)),
        ("bytes=9-0", 100, None),  # invalid: ignored
        ("bytes=0-1,5-6", 100, None),  # several ranges: ignored
        ("items=0-9", 100, None),
        ("bytes=-", 100, None),
        ("bytes=a-b", 100, None),
    ],
)
def test_byte_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_a_range_past_the_end_is_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        byte_range(header, size)
    assert refused.value.status == 416
    assert refused.value.headers == {"Content-Range": f"bytes */{size}"}


def test_a_span_names_exactly_the_segments_holding_the_bytes() -> None:
    segment = envelope.SEGMENT_BYTES
    size = 3 * segment + 10
    span = envelope.sealed_span(size, segment - 1, segment)  # the last byte of segment 0, the first of segment 1
    assert (span.first, span.skip, span.length) == (0, segment - 1, 2)
    assert span.start == envelope.HEADER_BYTES
    assert span.end == envelope.HEADER_BYTES + 2 * (segment + envelope.TAG_BYTES) - 1
    tail = envelope.sealed_span(size, size - 1, size - 1)
    assert tail.first == 3
    assert tail.end == envelope.sealed_size(size) - 1
    with pytest.raises(ValueError, match="within the file"):
        envelope.sealed_span(size, 0, size)
