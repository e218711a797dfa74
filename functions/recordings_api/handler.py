"""Call recordings: metadata and audio for owners and admins; every access is an audit event."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard import files as rules
from switchboard.models.recordings import RecordingOut, RecordingPage
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()
CONTENT_PATH = "/v1/recordings/{recording_id}/content"
PRODUCES = {CONTENT_PATH: frozenset({*rules.MEDIA_TYPES, rules.OCTET_STREAM})}
_CONTENT_RESPONSES = api.binary_answers(
    PRODUCES[CONTENT_PATH],
    {
        200: "The whole recording (at most 4 MiB), as an attachment",
        206: "The range asked for with `Range: bytes=first-last`",
    },
    problems={
        404: "",
        410: "`file_gone`: the account's key was destroyed",
        413: "`range_required`: over 4 MiB; ask for it with a Range header",
        416: "`range_not_satisfiable`: the range starts past the end",
    },
)


@app.get(
    "/v1/recordings",
    summary="List call recordings",
    tags=["recordings"],
    responses=api.answers(200, RecordingPage, "The account's recordings, newest call first"),
)
def list_recordings(limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.NextCursor = None) -> Response[str]:
    """Owners and admins; the list is audited (`recording.accessed`, part `list`, with the ids shown)."""
    from switchboard.logic import recordings  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(200, recordings.list_page(principal, limit=limit, cursor=cursor, meta=meta))


@app.get(
    "/v1/recordings/<recording_id>",
    summary="A call recording's metadata",
    tags=["recordings"],
    responses=api.answers(200, RecordingOut, "The call it recorded, its type, size and SHA-256", problems=(404,)),
)
def read_recording(recording_id: str) -> Response[str]:
    """Owners and admins; the read is audited (`recording.accessed`)."""
    from switchboard.logic import recordings  # noqa: PLC0415 - botocore and the crypto stack load with the first request

    principal, meta = api.caller(app)
    return api.json_response(200, recordings.read(principal, recording_id, meta))


@app.get(
    CONTENT_PATH.replace("{recording_id}", "<recording_id>"),
    summary="A call recording's audio",
    tags=["recordings"],
    responses=_CONTENT_RESPONSES,
)
def recording_content(recording_id: str) -> Response[str]:
    """Owners and admins; every read (each range too) is audited (`recording.accessed`)."""
    from switchboard.logic import recordings  # noqa: PLC0415

    principal, meta = api.caller(app)
    answer = recordings.content(principal, recording_id, app.current_event.headers.get("range"), meta)
    headers = {k: v for k, v in answer.headers.items() if k != "Content-Type"}
    return api.binary_response(answer.status, answer.body, content_type=answer.headers["Content-Type"], headers=headers)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context, produces=PRODUCES)
