"""Call recordings (docs/recordings.md): what GET /v1/recordings/{id} answers."""

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
