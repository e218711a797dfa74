"""Files (docs/files.md): the presigned upload's request, and what the file routes answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from switchboard import files
from switchboard.catalog import Channel

# The types a file may be announced as (lower case, as the schema states them): ours, their aliases, or "don't know".
ANNOUNCED_TYPES: tuple[str, ...] = tuple(sorted({*files.MEDIA_TYPES, *files.ALIASES, files.OCTET_STREAM}))
MAX_FILENAME_CHARS = 255


def _announced(content_type: str) -> str:
    if content_type not in ANNOUNCED_TYPES:
        raise ValueError(f"one of {', '.join(ANNOUNCED_TYPES)}")
    return content_type


AnnouncedType = Annotated[
    str,
    AfterValidator(_announced),
    Field(description="What the bytes are (they are checked).", json_schema_extra={"enum": list(ANNOUNCED_TYPES)}),
]
FileStatus = Literal["pending_upload", "ready"]


class FileUploadIn(BaseModel):
    """POST /v1/files as JSON: announce a file of up to 16 MiB and get a presigned PUT for its bytes."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    content_type: AnnouncedType
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
