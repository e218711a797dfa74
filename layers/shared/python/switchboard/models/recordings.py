"""Call recordings (docs/recordings.md): what GET /v1/recordings and /v1/recordings/{id} answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RecordingOut(BaseModel):
    """A call's recording: the call (message) it recorded, its type (sniffed), size and SHA-256 of the audio."""

    model_config = ConfigDict(defer_build=True)

    id: str
    message_id: str
    content_type: str
    size: int
    sha256: str
    created_at: str


class RecordingPage(BaseModel):
    """GET /v1/recordings: newest call first."""

    model_config = ConfigDict(defer_build=True)

    data: list[RecordingOut]
    next_cursor: str | None = None
