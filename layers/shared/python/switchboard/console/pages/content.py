"""Conversations (the list, a recipient's thread, replies), files and call recordings, with downloads through the
console (the browser holds no API credential, so the bytes come back through the page)."""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from typing import Any

from switchboard.console.app import PREFIX, Ctx, for_the_form, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.pages.recipients import CHANNELS, invalid
from switchboard.console.web import Response
from switchboard.models.messages import MAX_BODY_CHARS

notice("reply_queued", "Reply queued.")
notice("conversation_read", "Marked as read.")
notice("file_deleted", "File deleted: its bytes and every earlier version of them are gone.")

# A type the API named (sniffed from the bytes); anything else is sent as bytes of no particular type.
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,62}/[a-z0-9][a-z0-9.+-]{0,62}")
OCTET_STREAM = "application/octet-stream"


@dataclass
class Download(Response):
    """Bytes to save, never to render: the API's sniffed type, `attachment`, a file name we make from the id."""

    data: bytes = b""

    def to_proxy(self, request_id: str = "") -> dict[str, Any]:
        """The proxy result with the bytes base64-encoded (API Gateway decodes them for the browser)."""
        result = super().to_proxy(request_id)
        result["body"] = base64.b64encode(self.data).decode()
        result["isBase64Encoded"] = True
        return result


def download(ctx: Ctx, path: str, name: str) -> Download:
    """GET `path` (a file's or recording's content) as the signed-in person, answered as an attachment."""
    data, headers = ctx.api.download(path, accept=OCTET_STREAM)
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    kind = kind if MEDIA_TYPE.fullmatch(kind) else OCTET_STREAM
    # `name` is a route parameter ([A-Za-z0-9_-]), so nothing in it can break out of the header's quotes.
    filename = name + (mimetypes.guess_extension(kind) or "" if kind != OCTET_STREAM else "")
    return Download(
        content_type=kind,
        # No Content-Length of ours: the gateway counts the bytes it sends (the decoded ones, or their base64).
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        cookies=ctx.cookies,
        data=data,
    )


# --- conversations -------------------------------------------------------------------------------------------------


@page("GET", f"{PREFIX}/conversations")
def conversations(ctx: Ctx) -> Response:
    """GET /v1/conversations: people who wrote, newest activity first, with unread counts."""
    answer = ctx.api.get("/v1/conversations", cursor=ctx.query.get("cursor"))
    return ctx.render(
        "content/conversations.html", conversations=answer.data, next_cursor=answer.body.get("next_cursor")
    )


def _thread(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None) -> Response:
    rid = segment(ctx.params["recipient_id"])
    recipient = ctx.api.get(f"/v1/recipients/{rid}").body
    answer = ctx.api.get(f"/v1/recipients/{rid}/messages", cursor=ctx.query.get("cursor"))
    return ctx.render(
        "content/thread.html",
        status=status,
        problem=problem,
        recipient=recipient,
        entries=answer.data,
        next_cursor=answer.body.get("next_cursor"),
        channels=CHANNELS,
        max_body=MAX_BODY_CHARS,
    )


@page("GET", f"{PREFIX}/conversations/{{recipient_id}}")
def thread(ctx: Ctx) -> Response:
    """GET /v1/recipients/{id}/messages: both directions, newest first; the reply form."""
    return _thread(ctx)


@page("POST", f"{PREFIX}/conversations/{{recipient_id}}/reply")
def reply(ctx: Ctx) -> Response:
    """POST /v1/recipients/{id}/messages: needs only that they wrote on that channel within 24 hours."""
    channel, body = ctx.form.get("channel", ""), ctx.form.get("body", "")
    problem: ApiProblem | None = None
    if channel not in dict(CHANNELS):
        problem = invalid("/channel", "Choose a channel.")
    elif not body.strip():
        problem = invalid("/body", "Write the reply.")
    elif len(body) > MAX_BODY_CHARS:
        problem = invalid("/body", f"At most {MAX_BODY_CHARS} characters (this one has {len(body)}).")
    if problem is None:
        path = f"/v1/recipients/{segment(ctx.params['recipient_id'])}/messages"
        try:
            ctx.api.post(path, {"channel": channel, "body": body}, idempotency_key=ctx.idempotency_key())
        except ApiProblem as refused:
            if not for_the_form(refused):
                raise
            problem = refused
        else:
            return ctx.redirect(f"{PREFIX}/conversations/{segment(ctx.params['recipient_id'])}", notice="reply_queued")
    return _thread(ctx, status=problem.status, problem=problem)


@page("POST", f"{PREFIX}/conversations/{{recipient_id}}/read")
def mark_read(ctx: Ctx) -> Response:
    """POST /v1/conversations/{id}/read: nothing of theirs is unread until they write again."""
    rid = segment(ctx.params["recipient_id"])
    ctx.api.post(f"/v1/conversations/{rid}/read", idempotency_key=ctx.idempotency_key())
    return ctx.redirect(f"{PREFIX}/conversations/{rid}", notice="conversation_read")


# --- files ---------------------------------------------------------------------------------------------------------


@page("GET", f"{PREFIX}/files")
def files(ctx: Ctx) -> Response:
    """GET /v1/files, newest first (uploads happen through the API: the console takes forms, not files)."""
    answer = ctx.api.get("/v1/files", cursor=ctx.query.get("cursor"))
    return ctx.render("content/files.html", files=answer.data, next_cursor=answer.body.get("next_cursor"))


@page("GET", f"{PREFIX}/files/{{file_id}}")
def file(ctx: Ctx) -> Response:
    """GET /v1/files/{id}: type, size, SHA-256, status."""
    found = ctx.api.get(f"/v1/files/{segment(ctx.params['file_id'])}").body
    return ctx.render("content/file.html", file=found)


@page("GET", f"{PREFIX}/files/{{file_id}}/download")
def file_download(ctx: Ctx) -> Response:
    """GET /v1/files/{id}/content (at most 4 MiB in one answer: a larger file is read by ranges through the API)."""
    fid = ctx.params["file_id"]
    return download(ctx, f"/v1/files/{segment(fid)}/content", fid)


@page("POST", f"{PREFIX}/files/{{file_id}}/delete")
def file_delete(ctx: Ctx) -> Response:
    """DELETE /v1/files/{id}."""
    ctx.api.delete(f"/v1/files/{segment(ctx.params['file_id'])}")
    return ctx.redirect(f"{PREFIX}/files", notice="file_deleted")


# --- recordings ----------------------------------------------------------------------------------------------------


@page("GET", f"{PREFIX}/recordings")
def recordings(ctx: Ctx) -> Response:
    """GET /v1/recordings (owners and admins; the API audits every read, the list too)."""
    answer = ctx.api.get("/v1/recordings", cursor=ctx.query.get("cursor"))
    return ctx.render("content/recordings.html", recordings=answer.data, next_cursor=answer.body.get("next_cursor"))


@page("GET", f"{PREFIX}/recordings/{{recording_id}}")
def recording(ctx: Ctx) -> Response:
    """GET /v1/recordings/{id}: the call it recorded, type, size, SHA-256."""
    found = ctx.api.get(f"/v1/recordings/{segment(ctx.params['recording_id'])}").body
    return ctx.render("content/recording.html", recording=found)


@page("GET", f"{PREFIX}/recordings/{{recording_id}}/download")
def recording_download(ctx: Ctx) -> Response:
    """GET /v1/recordings/{id}/content: the audio, as an attachment."""
    rid = ctx.params["recording_id"]
    return download(ctx, f"/v1/recordings/{segment(rid)}/content", rid)
