"""Files: upload (bytes, or a presigned PUT), metadata, content by range, list and delete."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, catalog
from switchboard import files as rules
from switchboard.catalog import Channel
from switchboard.models.files import FileOut, FilePage, FileUploadIn
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()
UPLOAD_TYPES = frozenset({*rules.MEDIA_TYPES, *rules.ALIASES, rules.OCTET_STREAM})
CONTENT_PATH = "/v1/files/{file_id}/content"
BINARY = {"/v1/files": api.BinaryBody(UPLOAD_TYPES, catalog.RAW_BODIES[("POST", "/v1/files")])}
PRODUCES = {CONTENT_PATH: frozenset({*rules.MEDIA_TYPES, rules.OCTET_STREAM})}
_PROBLEMS_UPLOAD = {
    413: "`file_too_large` (over 16 MiB, a channel's limit, or a direct upload over 4 MiB) or "
    "`storage_limit_exceeded` (the plan's storage): nothing was stored",
    415: "`unsupported_media_type`: the bytes are none of the types we store (or the channel carries)",
    422: "`content_mismatch`: the bytes are another type (or size) than announced; nothing was stored",
}


@app.post(
    "/v1/files",
    summary="Upload a file",
    tags=["files"],
    responses=api.answers(
        201,
        FileOut,
        "Stored (`ready`, the bytes were the body) or announced (`pending_upload`, with the presigned `upload`)",
        problems=_PROBLEMS_UPLOAD,
    ),
)
def upload(channel: Annotated[Channel | None, Query()] = None) -> Response[str]:
    """The bytes as the body (up to 4 MiB; any `Content-Type` of ours or application/octet-stream): 201 ready. Or
    JSON `{content_type, size, filename?, channel?}`: 201 pending_upload with a presigned PUT (15 minutes) for
    exactly those bytes, then POST /v1/files/{id}/complete."""
    from switchboard.logic import files  # noqa: PLC0415 - botocore and the crypto stack load with the first request

    principal, _ = api.caller(app)
    event = app.current_event.raw_event
    body = api.raw_body(event) or b""
    declared = api.media_type(app.current_event.headers.get("content-type"))
    if declared in ("", "application/json"):
        out = files.announce(principal, api.parse_body(FileUploadIn, body))
    else:
        out = files.upload(principal, body, declared, filename=None, channel=channel)
    return api.json_response(201, out, exclude_none=True)


@app.post(
    "/v1/files/<file_id>/complete",
    summary="Finish a presigned upload",
    tags=["files"],
    responses=api.answers(
        200,
        FileOut,
        "Checked, sealed and stored: `ready`",
        problems={
            404: "",
            409: "`upload_missing`: nothing was PUT to the upload URL yet",
            **_PROBLEMS_UPLOAD,
        },
    ),
)
def complete(file_id: str, channel: Annotated[Channel | None, Query()] = None) -> Response[str]:
    """Reads the uploaded bytes, checks their size and type against the announcement, seals and stores them."""
    from switchboard.logic import files  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, files.complete(principal, file_id, channel=channel), exclude_none=True)


@app.get(
    "/v1/files",
    summary="List files",
    tags=["files"],
    responses=api.answers(200, FilePage, "The account's files, newest first"),
)
def list_files(limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.NextCursor = None) -> Response[str]:
    """Newest first, paged; file names only for roles that read content."""
    from switchboard.logic import files  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, files.list_page(principal, limit=limit, cursor=cursor), exclude_none=True)


@app.get(
    "/v1/files/<file_id>",
    summary="A file's metadata",
    tags=["files"],
    responses=api.answers(200, FileOut, "Type (sniffed), size, SHA-256, status", problems=(404,)),
)
def read_file(file_id: str) -> Response[str]:
    """The file's metadata; its name only for roles that read content."""
    from switchboard.logic import files  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, files.read(principal, file_id), exclude_none=True)


_CONTENT_RESPONSES = api.binary_answers(
    PRODUCES[CONTENT_PATH],
    {
        200: "The whole file (at most 4 MiB), as an attachment",
        206: "The range asked for with `Range: bytes=first-last` (at most 4 MiB of it): `Content-Range`",
    },
    problems={
        404: "",
        409: "`file_not_ready`: the upload is not complete",
        410: "`file_gone`: the account's key was destroyed",
        413: "`range_required`: the file is over 4 MiB; ask for it with a Range header",
        416: "`range_not_satisfiable`: the range starts past the file's end",
    },
)


@app.get("/v1/files/<file_id>/content", summary="A file's bytes", tags=["files"], responses=_CONTENT_RESPONSES)
def file_content(file_id: str) -> Response[str]:
    """`Range: bytes=first-last` (one range) answers 206 with those bytes; a file over 4 MiB is read by ranges."""
    from switchboard.logic import files  # noqa: PLC0415

    principal, _ = api.caller(app)
    answer = files.content(principal, file_id, app.current_event.headers.get("range"))
    headers = {k: v for k, v in answer.headers.items() if k != "Content-Type"}
    return api.binary_response(answer.status, answer.body, content_type=answer.headers["Content-Type"], headers=headers)


@app.delete(
    "/v1/files/<file_id>",
    summary="Delete a file",
    tags=["files"],
    responses=api.answers(204, None, "Deleted: every stored version of its bytes, and its metadata", problems=(404,)),
)
def delete_file(file_id: str) -> Response[str]:
    """204; the bytes and every earlier version of them are gone at once."""
    from switchboard.logic import files  # noqa: PLC0415

    principal, _ = api.caller(app)
    files.delete(principal, file_id)
    return api.no_content()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context, binary=BINARY, produces=PRODUCES)
