"""Files (docs/files.md): the presigned upload's request, and what the file routes answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.catalog import Channel

MEDIA_TYPE_PATTERN = r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}$"
MAX_FILENAME_CHARS = 255
FileStatus = Literal["pending_upload", "ready"]


class FileUploadIn(BaseModel):
    """POST /v1/files as JSON: announce a file of up to 16 MiB and get a presigned PUT for its bytes."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    content_type: str = Field(pattern=MEDIA_TYPE_PATTERN, description="What the bytes are (they are checked).")
    size: int = Field(ge=0, description="Exactly how many bytes will be PUT (the URL is signed for this length).")
    filename: str | None = Field(default=None, min_length=1, max_length=MAX_FILENAME_CHARS)
    channel: Channel | None = Field(default=None, description="Also check that this channel can carry the file.")


class UploadOut(BaseModel):
    """How to send the bytes: one PUT with exactly these headers, before `expires_at`."""

    model_config = ConfigDict(defer_build=True)

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]
    expires_at: str


class FileOut(BaseModel):
    """A file of the account. `filename` only for roles that may read content."""

    model_config = ConfigDict(defer_build=True)

    id: str
    status: FileStatus
    content_type: str
    size: int
    sha256: str | None = None  # hex SHA-256 of the bytes, once ready
    filename: str | None = None
    source: str
    created_at: str
    upload: UploadOut | None = None  # the answer to a presigned upload only


class FilePage(BaseModel):
    """GET /v1/files: newest first."""

    model_config = ConfigDict(defer_build=True)

    data: list[FileOut]
    next_cursor: str | None = None
