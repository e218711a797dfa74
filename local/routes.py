"""The `/_local` routes (API.md "Local stack only"), the OpenAPI document and Swagger UI: served by the gateway."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from local import openapi, provision
from local.gateway import Gateway, LocalHandler, Request, Response
from local.provision import ACCOUNT_ID, REGION
from local.scheduler import Scheduler, UnknownJob
from switchboard import api, catalog, clock
from switchboard.carriers import sandbox
from switchboard.headers import SECURITY_HEADERS
from switchboard.logic import edge_drift
from switchboard.models.errors import InternalError, InvalidJson, NotFound, ProblemError, ValidationFailed

log = logging.getLogger("local")

PREFIX = "/_local"
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-.~%]+)")
SWAGGER_UI = "https://unpkg.com/swagger-ui-dist@5.17.14"
DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css"></head>
<body><div id="ui"></div><script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#ui"}});</script></body></html>
"""
# Swagger UI loads from a CDN in the developer's browser; this page exists only in the local stack.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://unpkg.com; style-src https://unpkg.com; "
    "img-src data: https://unpkg.com; connect-src 'self'; frame-ancestors 'none'"
)

STATUS_PAGE_FILES = frozenset({"index.html", "incidents.atom", "status.json"})


def _headers(request: Request, content_type: str) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), *SECURITY_HEADERS.items(), ("X-Request-Id", request.request_id)]


def json_response(request: Request, body: Any, status: int = 200) -> Response:
    """A JSON answer with the headers every answer carries."""
    return Response(status, _headers(request, "application/json"), json.dumps(body).encode())


def problem_response(request: Request, error: ProblemError) -> Response:
    """A problem+json answer, rendered by the same function as the handlers' errors."""
    answer = api.render_problem(error, request_id=request.request_id, instance=request.path)
    headers = [*answer.headers.items(), *SECURITY_HEADERS.items(), ("X-Request-Id", request.request_id)]
    return Response(answer.status, headers, answer.body.encode())


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (400 when it is not JSON, 422 when it is not an object)."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise InvalidJson("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed.at("", "Send a JSON object.")
    return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationFailed.at(f"/{name}", "Required: a non-empty string.")
    return value


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValidationFailed.at(f"/{name}", "Required: a string.")
    return value


def _inbound_extras(body: dict[str, Any]) -> dict[str, Any]:
    """The optional parts of a simulated inbound message: `kind` (button, media, call, ...), `media`
    ([{kind, id, content_type?}], the carrier's file handles) and `reply_to` (the id of one of our messages a sandbox
    carrier delivered: the event names it by that carrier's own id, as real carriers do)."""
    extras: dict[str, Any] = {}
    if "kind" in body:
        extras["kind"] = _string(body, "kind")
    if "media" in body:
        extras["media"] = _media(body["media"])
        extras.setdefault("kind", "media")
    if "reply_to" in body:
        message_id = _string(body, "reply_to")
        delivered = next((d for d in sandbox.deliveries() if d.message_id == message_id), None)
        if delivered is None:
            raise ValidationFailed.at("/reply_to", "No message with this id was delivered by a sandbox carrier.")
        extras["reply_to"] = delivered.carrier_message_id
    return extras


MAX_SIMULATED_MEDIA_BYTES = 20 * 1024 * 1024  # past every limit of ours: a test of `too_large` fits


def _media(value: Any) -> Any:
    """Files of a simulated inbound message. `[{content_type, data_base64}]` or `[{generate: "image/png"}]`: the bytes
    are kept by the sandbox and served by its media host (`GET /_local/carrier-media/{id}`), and the event carries
    only the media id, as a carrier's does. Entries that already name a carrier `id` pass as they are (the sandbox
    adapter validates them as a carrier's payload)."""
    if not isinstance(value, list):
        return value
    files: list[Any] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or ("data_base64" not in entry and "generate" not in entry):
            files.append(entry)
            continue
        if entry.get("generate") is not None:
            if entry["generate"] != "image/png":
                raise ValidationFailed.at(f"/media/{index}/generate", "Only image/png is generated.")
            declared, data = "image/png", sandbox.png()
        else:
            declared = _string(entry, "content_type")
            try:
                data = base64.b64decode(_string(entry, "data_base64"), validate=True)
            except ValueError:
                raise ValidationFailed.at(f"/media/{index}/data_base64", "Not base64.") from None
            if len(data) > MAX_SIMULATED_MEDIA_BYTES:
                raise ValidationFailed.at(f"/media/{index}/data_base64", "At most 20 MiB.")
        declared = entry.get("content_type") or declared
        kind = entry.get("kind") or _media_kind(declared)
        files.append({"kind": kind, "id": sandbox.put_media(declared, data), "content_type": declared})
    return files


def _media_kind(content_type: str) -> str:
    major = content_type.partition("/")[0]
    return major if major in {"image", "audio", "video"} else "document"


def _carrier(name: str) -> str:
    if name not in sandbox.NAMES:
        raise NotFound(f"No sandbox carrier is called {name!r}.")
    return name


def outbox() -> list[dict[str, str]]:
    """E-mails sent through moto's SES (this process's backend), newest first."""
    from moto.ses.models import ses_backends  # noqa: PLC0415 - moto's in-process state; loaded on first use

    mails: list[dict[str, str]] = []
    for message in reversed(ses_backends[ACCOUNT_ID][REGION].sent_messages):
        body = getattr(message, "body", None)
        if not isinstance(body, str):
            continue  # raw and templated messages: the platform sends neither
        for to in message.destinations.get("ToAddresses", []):
            mail = {"to": to, "subject": message.subject, "body": body}
            if found := _TOKEN.search(body):
                mail["token"] = found.group(1)
            mails.append(mail)
    return mails


def fetch_media(url: str, timeout_s: float = 10.0) -> None:
    """Fetch a media link as a carrier does (over HTTP, through the gateway: the real route) and record the result."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        sandbox.record_fetch(url, status=0, body=b"", content_type="")  # the local stack serves loopback only
        return
    headers = {"Accept": "*/*", "User-Agent": "sandbox-carrier/local"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http only (above)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 - loopback http only (above)
            body, status, content_type = answer.read(), answer.status, answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        body, status, content_type = b"", error.code, ""
    sandbox.record_fetch(url, status=status, body=body, content_type=content_type)


class LocalRoutes:
    """The gateway's own routes; `dispatch` reaches catalog routes (simulated carrier events go through it)."""

    def __init__(
        self, gateway: Gateway, scheduler: Scheduler, settle_mail: Callable[[], object] = lambda: None
    ) -> None:
        self.gateway = gateway
        self.scheduler = scheduler
        self.settle_mail = settle_mail
        self._openapi: bytes | None = None
        self._openapi_lock = threading.Lock()

    def outbox(self, request: Request, _: dict[str, str]) -> Response:
        """What SES received, once mail_worker has worked through what was queued (waits a few seconds at most)."""
        self.settle_mail()
        return json_response(request, {"data": outbox()})

    def table(self) -> list[tuple[str, str, Callable[[Request, dict[str, str]], Response]]]:
        """Every route this module serves (method, template, handler)."""
        return [
            ("GET", f"{PREFIX}/outbox", self.outbox),
            ("GET", f"{PREFIX}/deliveries", self.deliveries),
            ("GET", f"{PREFIX}/recordings", self.recordings),
            ("GET", f"{PREFIX}/carriers", self.carriers),
            ("PUT", f"{PREFIX}/carriers/{{carrier}}", self.set_carrier),
            ("POST", f"{PREFIX}/carriers/{{carrier}}/inbound", self.inbound),
            ("GET", f"{PREFIX}/carrier-media", self.carrier_media_ids),
            ("GET", f"{PREFIX}/carrier-media/{{media_id}}", self.carrier_media),
            ("POST", f"{PREFIX}/jobs/{{name}}", self.run_job),
            ("POST", f"{PREFIX}/clock", self.advance_clock),
            ("GET", f"{PREFIX}/cloudflare/ips", self.cloudflare_ips),
            ("GET", f"{PREFIX}/status-page", self.status_page),
            ("GET", f"{PREFIX}/status-page/{{file}}", self.status_page),
            ("GET", "/openapi.json", self.openapi_json),
            ("GET", "/docs", self.docs),
        ]

    def install(self) -> None:
        """Register every route on the gateway, each answering errors as problem+json."""
        for method, template, handler in self.table():
            self.gateway.add_local_route(method, template, _guarded(handler))

    def deliveries(self, request: Request, _: dict[str, str]) -> Response:
        """What the sandbox carriers delivered, newest first."""
        return json_response(request, {"data": [d.as_json() for d in sandbox.deliveries()]})

    def recordings(self, request: Request, _: dict[str, str]) -> Response:
        """The call recordings the sandbox carriers still keep (id and SHA-256) and those the platform deleted."""
        kept = [{"id": rid, "sha256": hashlib.sha256(audio).hexdigest()} for rid, audio in sandbox.recordings().items()]
        return json_response(request, {"kept": kept, "deleted": sandbox.deleted_recordings()})

    def carriers(self, request: Request, _: dict[str, str]) -> Response:
        """Every sandbox carrier, its state and whether it posts status callbacks."""
        data = [
            {"carrier": name, "state": state.value, "receipts": sandbox.receipts_on(name)}
            for name, state in sandbox.states().items()
        ]
        return json_response(request, {"data": data})

    def set_carrier(self, request: Request, params: dict[str, str]) -> Response:
        """`{state: up | down | slow, receipts?: bool}`: simulate an outage or a recovery; `receipts: false` makes the
        carrier accept messages without ever calling back (what the receipts job reconciles)."""
        carrier = _carrier(params["carrier"])
        body = json_body(request)
        raw, receipts = body.get("state"), body.get("receipts")
        states = [s.value for s in sandbox.State]
        if raw not in states and not (raw is None and receipts is not None):
            raise ValidationFailed.at("/state", f"Must be one of: {', '.join(states)}.")
        if receipts is not None and not isinstance(receipts, bool):
            raise ValidationFailed.at("/receipts", "Must be true or false.")
        if raw is not None:
            sandbox.set_state(carrier, sandbox.State(raw))
        if receipts is not None:
            sandbox.set_receipts(carrier, on=receipts)
        answer = {"carrier": carrier, "state": sandbox.state(carrier).value, "receipts": sandbox.receipts_on(carrier)}
        return json_response(request, answer)

    def inbound(self, request: Request, params: dict[str, str]) -> Response:
        """Sign an inbound message as the sandbox carrier does and post it to that carrier's events route."""
        carrier = _carrier(params["carrier"])
        body = json_body(request)
        channel = body.get("channel", "sms")
        if channel not in catalog.CHANNELS:
            raise ValidationFailed.at("/channel", f"Must be one of: {', '.join(catalog.CHANNELS)}.")
        event = {
            "type": "message.inbound",
            "id": f"sbxevt_{uuid.uuid4().hex}",
            "carrier": carrier,
            "channel": channel,
            "from": _string(body, "from"),
            "to": _string(body, "to"),
            "body": _text(body, "body"),
            "received_at": clock.rfc3339(clock.now()),
            **_inbound_extras(body),
        }
        # The route's own answer comes back as is (404 from the gateway until a function serves the route).
        return self.post_signed(carrier, event, request.source_ip)

    def carrier_media_ids(self, request: Request, _: dict[str, str]) -> Response:
        """The media ids the sandbox carriers handed out (the handles inbound events carried)."""
        return json_response(request, {"data": sandbox.media_ids()})

    def carrier_media(self, request: Request, params: dict[str, str]) -> Response:
        """The sandbox carriers' media host: the bytes of a simulated inbound message's file (what media_worker
        fetches, over HTTP, like a real carrier's media URL)."""
        found = sandbox.media(params["media_id"])
        if found is None:
            raise NotFound("No such carrier media.")
        content_type, data = found
        return Response(200, _headers(request, content_type or "application/octet-stream"), data)

    def post_signed(self, carrier: str, event: dict[str, Any], source_ip: str = "127.0.0.1") -> Response:
        """Post one event to the carrier's events route, signed as the sandbox carrier signs."""
        from switchboard.crypto import secret_store  # noqa: PLC0415 - boto3 on first use

        raw = json.dumps(event).encode()
        key = str(secret_store.get_json("SANDBOX_CREDENTIALS_SECRET")["signing_key"])
        signature = sandbox.sign(key, raw, int(clock.timestamp()))
        headers = [
            ("Content-Type", "application/json"),
            ("User-Agent", f"{carrier}/local"),
            (sandbox.SIGNATURE_HEADER, signature),
        ]
        return self.gateway.dispatch(Request("POST", f"/v1/carriers/{carrier}/events", headers, raw, source_ip))

    def pump_callbacks(self, stop: threading.Event, every_s: float = 0.2) -> None:
        """Post the sandbox carriers' status callbacks (delivered) as a real carrier would, until `stop`."""
        while not stop.wait(every_s):
            fetches, callbacks = sandbox.take_owed()
            for url in fetches:
                try:
                    fetch_media(url)
                except Exception as error:
                    log.warning("media fetch failed", extra={"error_type": type(error).__name__})
            for owed in callbacks:
                try:
                    self.post_signed(owed["carrier"], owed)
                except Exception as error:
                    log.warning("callback failed", extra={"error_type": type(error).__name__})

    def run_job(self, request: Request, params: dict[str, str]) -> Response:
        """Run a scheduled job now; 200 with its report."""
        try:
            report = self.scheduler.run_now(params["name"])
        except UnknownJob:
            raise NotFound(f"No scheduled job is called {params['name']!r}.") from None
        return json_response(request, report)

    def cloudflare_ips(self, request: Request, _: dict[str, str]) -> Response:
        """Cloudflare's `GET /client/v4/ips` answer with the deployed list: the drift job's source on one machine
        (CLOUDFLARE_IPS_URL points here), so it never reaches the internet and finds no drift."""
        data = json.loads(edge_drift.DEPLOYED_FILE.read_text())
        result = {"ipv4_cidrs": data["ipv4"], "ipv6_cidrs": data["ipv6"], "etag": "local"}
        return json_response(request, {"success": True, "errors": [], "messages": [], "result": result})

    def status_page(self, request: Request, params: dict[str, str]) -> Response:
        """The static status page as status_page_job last published it to (moto's) S3, as Cloudflare serves it
        deployed: index.html, incidents.atom, status.json; 404 before the job's first run."""
        key = params.get("file") or "index.html"
        if key not in STATUS_PAGE_FILES:
            raise NotFound(f"The status page has no {key!r}.")
        import boto3  # noqa: PLC0415 - loaded on first use
        from botocore.exceptions import ClientError  # noqa: PLC0415

        from switchboard.logic.status_page import CSP  # noqa: PLC0415 - the page's own policy, as it declares it

        try:
            answer = boto3.client("s3").get_object(Bucket=provision.status_page_bucket_name(), Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound("The status page is not published yet: run POST /_local/jobs/status_page.") from None
            raise
        # The page's own policy (inline style, no script) and its caching, as S3 and Cloudflare serve it.
        replaced = {"Content-Security-Policy": CSP, "Cache-Control": answer.get("CacheControl", "no-store")}
        headers = [(k, str(replaced.get(k, v))) for k, v in _headers(request, str(answer["ContentType"]))]
        return Response(200, headers, answer["Body"].read())

    def advance_clock(self, request: Request, _: dict[str, str]) -> Response:
        """`{advance_s}` → `{now}`: the platform clock only moves forward."""
        advance = json_body(request).get("advance_s")
        if isinstance(advance, bool) or not isinstance(advance, int | float) or not math.isfinite(advance):
            raise ValidationFailed.at("/advance_s", "Required: a number of seconds.")
        if advance < 0:
            raise ValidationFailed.at("/advance_s", "The clock only moves forward: send zero or more seconds.")
        return json_response(request, {"now": clock.rfc3339(clock.advance(advance))})

    def openapi_json(self, request: Request, _: dict[str, str]) -> Response:
        """The OpenAPI document (generated on first request: it imports every handler)."""
        with self._openapi_lock:
            if self._openapi is None:
                self._openapi = openapi.render().encode()
        return Response(200, _headers(request, "application/json"), self._openapi)

    def docs(self, request: Request, _: dict[str, str]) -> Response:
        """Swagger UI over /openapi.json."""
        headers = [
            (k, DOCS_CSP if k == "Content-Security-Policy" else v)
            for k, v in _headers(request, "text/html; charset=utf-8")
        ]
        return Response(200, headers, DOCS_HTML.encode())


def _guarded(handler: Callable[[Request, dict[str, str]], Response]) -> LocalHandler:
    def serve(request: Request, params: dict[str, str]) -> Response:
        try:
            return handler(request, params)
        except ProblemError as error:
            return problem_response(request, error)
        except Exception as error:
            log.exception("local route failed", extra={"error_type": type(error).__name__})
            detail = "Something went wrong on our side; it was logged."
            return problem_response(request, InternalError(detail))

    return serve
