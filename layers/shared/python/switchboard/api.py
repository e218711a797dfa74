"""The shared REST resolver: problem+json errors by exception type, request ids and security headers."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, NamedTuple, TypeVar, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, BeforeValidator, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError, PydanticSerializationError

from switchboard import cards, catalog, operators, signals
from switchboard.auth import SERVICE_UNAVAILABLE, Principal, enforce, recording, refuse_credentials_in_url
from switchboard.dal import clients
from switchboard.headers import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, SECURITY_HEADERS
from switchboard.models import paging
from switchboard.models.errors import (
    BadRequest,
    CardDataRefused,
    Forbidden,
    InternalError,
    InvalidJson,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from switchboard.models.message_status import MESSAGE_STATUSES
from switchboard.models.one_time import shows_secret
from switchboard.models.request import RequestMeta
from switchboard.observability import logger
from switchboard.text import has_lone_surrogate, lone_surrogate_pointer, repaired

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32  # our deepest model nests 5 levels
INVALID_UNICODE = "invalid_unicode"
DEFAULT_LOCK_S = 30.0  # an idempotency lock's life when the context cannot say how long the function may run


def request_meta(app: APIGatewayRestResolver) -> RequestMeta:
    """The current request's id, trusted client IP and user agent (for audit events and throttles)."""
    return RequestMeta.from_event(app.current_event.raw_event)


def caller(app: APIGatewayRestResolver) -> tuple[Principal, RequestMeta]:
    """Who calls (from the authorizer's context only, never the request) and the request's audit metadata.

    A credential in the URL never gets here: `handle` refuses it first, on every route (R27).
    """
    return Principal.from_event(app.current_event.raw_event), request_meta(app)


_POWERTOOLS_PARAM = re.compile(r"<(\w+)>")
# Set when this invocation's answer shows a one-time secret: an idempotent replay must never show it again.
_shows_secret: ContextVar[bool] = ContextVar("switchboard_shows_secret", default=False)
_Model = TypeVar("_Model", bound=BaseModel)


def noting_secrets(model: _Model) -> _Model:
    """`model`, noted as this answer's: when it shows a one-time secret, an idempotent replay will not."""
    if shows_secret(model):
        _shows_secret.set(True)
    return model


def dump_json(model: BaseModel, *, exclude_none: bool = False) -> str:
    """A model as JSON text with its aliases (`from`); a lone surrogate stored before such input was refused reads
    as U+FFFD."""
    try:
        return model.model_dump_json(by_alias=True, exclude_none=exclude_none)
    except PydanticSerializationError:
        # Not the caller's fault and not worth a 500 on every read of the record: answered repaired, and logged so
        # the record can be found (the surrogate itself is never logged).
        logger.warning("lone surrogate repaired in an answer", extra={"model": type(model).__name__})
        data = repaired(model.model_dump(mode="json", by_alias=True, exclude_none=exclude_none))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_response(status: int, model: BaseModel | str, *, exclude_none: bool = False) -> Response[str]:
    """The one JSON answer: from an output model (explicit output models: nothing else leaks, R33), or a JSON text
    the logic wrote itself (an account export)."""
    if isinstance(model, str):
        return Response(status_code=status, content_type="application/json", body=model)
    noting_secrets(model)
    body = dump_json(model, exclude_none=exclude_none)
    return Response(status_code=status, content_type="application/json", body=body)


def parse_body(model: type[_Model], raw: bytes) -> _Model:
    """A JSON body a route reads itself (it also takes other media types): 400 invalid_json or 422 with pointers,
    as the resolver answers for a declared body (`handle` already refused bodies that are not strict UTF-8 JSON)."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        if any(e.get("type") == "json_invalid" for e in error.errors()):
            raise InvalidJson("The request body is not valid JSON.") from None
        pointers = [
            {"pointer": _pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in error.errors()
        ]
        raise ValidationFailed("The request has invalid fields.", errors=pointers) from None


def binary_response(status: int, body: bytes, *, content_type: str, headers: Mapping[str, str]) -> Response[str]:
    """An answer of raw bytes (a file): base64 in the proxy result (`isBase64Encoded`), which API Gateway decodes
    for the API's binary media types and the local gateway always decodes."""
    response: Response[str] = Response(
        status_code=status, content_type=content_type, body=base64.b64encode(body).decode(), headers=dict(headers)
    )
    response.base64_encoded = True
    return response


def no_content() -> Response[str]:
    """The one 204 answer, whatever the route: no body."""
    return Response(status_code=204, content_type="application/json", body="")


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
# What each problem status means on any route; `answers(problems=...)` adds the route-specific ones to the document.
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: (
        "Malformed request: a JSON body its request model refuses (`invalid_body`, answered by the gateway with what"
        " is wrong in `detail`), not JSON, not UTF-8, a credential in the URL, a bad Idempotency-Key, ..."
    ),
    401: "Missing, wrong or expired credentials",
    403: "These credentials may not call this route (role, credential type) or the firewall refused the request",
    404: "No such resource in this account",
    406: "The Accept header admits neither application/json nor application/problem+json (nor the route's own type)",
    409: "Conflicts with the current state",
    410: "Gone for good",
    413: "Request body over 64 KiB (or an answer too large to send)",
    415: "Request body in a media type this route does not accept",
    422: "A named rule refused the request, or invalid fields the request model cannot state (`errors` points at each)",
    429: "Over a rate limit or quota; nothing was processed, retry after `Retry-After`",
    503: "AWS throttled or failed for a moment (`service_unavailable`); retry after `Retry-After`",
}
RETRY_AFTER_S = 1  # AWS throttling passes within a second or two; clients back off further on repeats


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """The 503 answer for a transient AWS failure (throttling, an internal error, KMS unavailable), else None."""
    if not clients.transient(error):
        return None
    # The service and code go to the log (with the request id), never to the caller.
    logger.warning("aws unavailable", extra={"error_type": type(error).__name__, "error": str(error)[:300]})
    return ServiceUnavailable(
        "A service we depend on is busy; nothing was lost, retry shortly.", retry_after_s=RETRY_AFTER_S
    )


def problem_answer(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of a problem answer (RFC 9457, `application/problem+json`)."""
    return {
        "description": description or PROBLEM_DESCRIPTIONS[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }


def answers(
    status: int,
    body: type[BaseModel] | dict[str, Any] | None,
    description: str,
    *,
    media_type: str = "application/json",
    problems: dict[int, str] | tuple[int, ...] = (),
) -> dict[int, Any]:
    """A route's `responses=`: its success status and body (a model, a raw schema or none) and its own problems.

    local/openapi.py adds the problems every route of its kind can answer (credentials, body, idempotency).
    """
    if body is None:
        content: dict[str, Any] = {}
    elif isinstance(body, dict):
        content = {media_type: {"schema": body}}
    else:
        content = {media_type: {"model": body}}
    return {status: {"description": description, "content": content}, **_problem_answers(problems)}


def binary_answers(
    media_types: Iterable[str], successes: dict[int, str], *, problems: dict[int, str]
) -> dict[int, Any]:
    """The `responses=` of a route that answers bytes: each success status (its description) in every media type the
    route produces (`api.handle`'s `produces`), then its own problems."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in sorted(media_types)}
    answers = {status: {"description": text, "content": content} for status, text in successes.items()}
    return {**answers, **_problem_answers(problems)}


def _problem_answers(problems: dict[int, str] | tuple[int, ...]) -> dict[int, Any]:
    described = problems if isinstance(problems, dict) else dict.fromkeys(problems, "")
    return {code: problem_answer(code, text or None) for code, text in described.items()}


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    request_id: str,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document with our stable `code` and the request id."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return body


class ProblemAnswer(NamedTuple):
    """A problem+json answer, whatever carries it (Powertools' Response, a proxy result, the local gateway)."""

    status: int
    headers: dict[str, str]  # Content-Type and the error's own (Retry-After, ...)
    body: str


def render_problem(error: ProblemError, *, request_id: str, instance: str | None) -> ProblemAnswer:
    """The one rendering of an error as an RFC 9457 answer: every problem the platform sends comes from here."""
    body = problem(
        status=error.status,
        code=error.instance_code,
        title=error.title,
        detail=error.detail,
        request_id=request_id,
        instance=instance,
        extra=error.extra,
    )
    return ProblemAnswer(error.status, {"Content-Type": PROBLEM_CONTENT_TYPE, **error.headers}, json.dumps(body))


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    # Powertools prefixes the location with where it came from ("body", "query", ...): a JSON pointer starts below.
    parts = [str(part) for part in loc[1:]] if loc and loc[0] in {"body", "query", "path", "header"} else list(loc)
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


# Powertools keeps the event being resolved on its BaseRouter class, shared by every resolver of the process: in one
# process running many functions at once (the local stack) a problem answer could carry another request's path and
# id. Here the event and context belong to the invocation's contextvars context instead.
_current_event: ContextVar[APIGatewayProxyEvent] = ContextVar("switchboard_current_event")
_lambda_context: ContextVar[LambdaContext] = ContextVar("switchboard_lambda_context")
# Powertools' `app.context` (the matched route, its arguments, the parsed request) is one dict per resolver; the
# middlewares read it after the route matched, so two invocations at once must not share (and clear) one dict.
_resolver_context: ContextVar[dict[str, Any]] = ContextVar("switchboard_resolver_context")


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver whose current event and Lambda context are per invocation, not per class, and
    whose routes' access policies are declared (`catalog.Route`), keyed by method and path template."""

    def __init__(self, routes: Iterable[catalog.Route]) -> None:
        super().__init__(enable_validation=True)
        self.policies: dict[tuple[str, str], catalog.Route] = {(r.method, r.path): r for r in routes}
        # Powertools puts request validation before every middleware. Here it comes after the policy, the rate limit
        # and idempotency: a refused caller learns nothing about the body, an invalid body spends a token like any
        # request, and a replay answers what the first request was answered.
        validation = self._request_validation_middleware
        self._request_validation_middleware = _passthrough  # type: ignore[assignment]  # its place, left empty
        self.use(middlewares=[route_policy, rate_limit, idempotent, validation])

    def policy_of(self, method: str) -> tuple[catalog.Route | None, bool]:
        """The declared route the resolver matched for this request, and whether a handler of ours matched at all.

        Read from the route Powertools matched (never from the event's `resource`, which a caller's test harness or
        a proxy may fill with the concrete path): a handler without a declaration is then refused, not run.
        """
        matched = self.context.get("_route")
        if matched is None or not any(matched is r for r in self._static_routes + self._dynamic_routes):
            return None, False  # the not-found route: the resolver answers 404
        template = _POWERTOOLS_PARAM.sub(r"{\1}", matched.path)
        return self.policies.get((method, template)), True

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEvent:
        """The event being resolved in this context."""
        return _current_event.get()

    @current_event.setter
    def current_event(self, event: APIGatewayProxyEvent) -> None:
        _current_event.set(event)

    @property
    def context(self) -> dict[str, Any]:
        """Powertools' per-request context (matched route, route arguments, parsed request), per invocation."""
        try:
            return _resolver_context.get()
        except LookupError:
            fresh: dict[str, Any] = {}
            _resolver_context.set(fresh)
            return fresh

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        _resolver_context.set(value)

    @property
    def lambda_context(self) -> LambdaContext:
        """The Lambda context of the invocation being resolved in this context."""
        return _lambda_context.get()

    @lambda_context.setter
    def lambda_context(self, context: LambdaContext) -> None:
        _lambda_context.set(context)

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Resolve with this invocation's event and context bound to the current contextvars context."""
        event_token = _current_event.set(cast(APIGatewayProxyEvent, self._to_proxy_event(dict(event))))
        context_token = _lambda_context.set(context)
        request_token = _resolver_context.set({})
        try:
            return super().resolve(event, context)
        finally:
            _current_event.reset(event_token)
            _lambda_context.reset(context_token)
            _resolver_context.reset(request_token)


def build_resolver(routes: Iterable[catalog.Route] | None = None) -> APIGatewayRestResolver:
    """A REST resolver with pydantic validation, every error mapped to problem+json, and the middlewares in order:
    route policy, rate limit, idempotency (so no replay or early answer skips the policy).

    `routes`: the declared routes it serves (default: every catalog route); a handler without one is refused.
    """
    app = Resolver([route for route, _ in catalog.all_routes()] if routes is None else routes)

    def respond(error: ProblemError) -> Response[str]:
        event = app.current_event
        answer = render_problem(error, request_id=event.request_context.request_id or "", instance=event.path)
        return Response(status_code=answer.status, body=answer.body, headers=answer.headers)

    @app.exception_handler(ProblemError)
    def _problem(error: ProblemError) -> Response[str]:
        if error.status == HTTPStatus.FORBIDDEN:
            _audit_refusal(app.current_event.raw_event, error)
        elif error.status == HTTPStatus.TOO_MANY_REQUESTS:
            signals.count(signals.RATE_LIMITED)  # a spike of them is an attack or a client gone wrong
        return respond(error)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        errors = error.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return respond(InvalidJson("The request body is not valid JSON."))
        pointers = [{"pointer": _pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in errors]
        if any(e.get("type") == cards.CODE for e in errors):
            # R70: named apart from other invalid fields, so a client knows what to take out.
            detail = "A field holds what looks like a payment card number; nothing was stored."
            return respond(CardDataRefused(detail, errors=pointers))
        return respond(ValidationFailed("The request has invalid fields.", errors=pointers))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: Exception) -> Response[str]:
        return respond(UnsupportedMediaType("Send the body as application/json."))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return respond(NotFound("No route matches this method and path."))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        busy = unavailable(error)
        if busy is not None:
            return respond(busy)
        # Details go to the log (with the request id), never to the caller.
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        # Answered, so Lambda sees no error: this metric is what the function's error alarm (and rollback) watch.
        signals.count(signals.INTERNAL_ERRORS)
        return respond(InternalError("Something went wrong on our side; it was logged."))

    return app


def _ascii_digits(value: Any) -> Any:
    # Digits only, as the query string carries them: pydantic alone would read " 1", "+1", "1_0" or "1.0" as numbers.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "Input should be a whole number in digits")
    return value


# Every list's `?limit=` (declare it `limit: api.PageLimit = api.DEFAULT_LIMIT`): a value out of bounds or not a
# whole number is the same 422 `validation_failed` (pointer `/limit`) on every list.
DEFAULT_LIMIT = paging.DEFAULT_LIMIT
PageLimit = Annotated[
    int,
    BeforeValidator(_ascii_digits),
    # Stated whole: Powertools writes a described parameter's `ge`/`le` into the schema under those names.
    WithJsonSchema(
        {"type": "integer", "minimum": paging.MIN_LIMIT, "maximum": paging.MAX_LIMIT, "default": paging.DEFAULT_LIMIT}
    ),
    Query(ge=paging.MIN_LIMIT, le=paging.MAX_LIMIT, description=f"Page size. {paging.LIMIT_MESSAGE}"),
]
# Query parameters the logic parses itself (answering 400 invalid_cursor, ...): the document states their form.
PageCursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
# The cursor of the lists paged by switchboard.logic.caps.page: base64url, which the document states.
NextCursor = Annotated[
    str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the previous page")
]
# The message lists' filters (GET /v1/messages, and the operator API's reads under a break-glass grant).
StatusFilter = Annotated[str | None, WithJsonSchema({"enum": list(MESSAGE_STATUSES)}), Query()]
ChannelFilter = Annotated[str | None, WithJsonSchema({"enum": list(catalog.CHANNELS)}), Query()]
TimeFilter = Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"}), Query()]


@dataclass(frozen=True)
class BinaryBody:
    """A route that also takes its body as raw bytes in one of `media_types` (a file upload), of up to `max_bytes`:
    such a body skips the JSON checks (UTF-8, depth, strictness) and the 64 KiB limit of JSON bodies."""

    media_types: frozenset[str]
    max_bytes: int


JSON_ONLY: frozenset[str] = frozenset({"application/json"})
# Carriers post their webhooks form-encoded (Twilio, Plivo); only their events route accepts that.
JSON_OR_FORM: frozenset[str] = frozenset({"application/json", "application/x-www-form-urlencoded"})


def raw_body(event: dict[str, Any]) -> bytes | None:
    """The body's bytes as the client sent them (base64 undone), or None without one."""
    body = event.get("body")
    if not body:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return None  # not what API Gateway sends; the route reads it as it is
    return body.encode() if isinstance(body, str) else bytes(body)


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects in a JSON text nest deeper than `limit` (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # too few brackets to nest that deep: no scan
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def media_type(value: str | None) -> str:
    """The media type of a Content-Type value without its parameters, lower case (RFC 9110 §8.3.1)."""
    return (value or "").split(";")[0].strip().lower()


def _header_names(event: dict[str, Any], name: str) -> list[str]:
    wanted = name.lower()
    names = {str(k) for k in (event.get("headers") or {})} | {str(k) for k in (event.get("multiValueHeaders") or {})}
    return [k for k in names if k.lower() == wanted]


def _normalize_content_type(event: dict[str, Any]) -> None:
    # Media types are case-insensitive, but Powertools matches a lower-case prefix of the header it finds under
    # `content-type`: hand it one lower-case value, so `APPLICATION/JSON` is parsed as JSON, not refused (500).
    names = _header_names(event, "content-type")
    if not names:
        return
    value = str((event.get("headers") or {}).get(names[0]) or "")
    kind, sep, parameters = value.partition(";")
    normalized = kind.strip().lower() + (sep + parameters if sep else "")
    for name in names:
        (event.get("headers") or {}).pop(name, None)
        (event.get("multiValueHeaders") or {}).pop(name, None)
    event.setdefault("headers", {})
    if event["headers"] is None:
        event["headers"] = {}
    event["headers"]["Content-Type"] = normalized
    if event.get("multiValueHeaders") is not None:
        event["multiValueHeaders"]["Content-Type"] = [normalized]


class _NotStrictJson(ValueError):
    """A JSON text Python would read but no strict parser agrees on (NaN, Infinity, 1e999, a repeated name)."""


def _no_constant(name: str) -> Any:
    raise _NotStrictJson(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotStrictJson("a number beyond the double range")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # Parsers disagree on which repeated name wins (the gateway's validator and pydantic may not agree).
        raise _NotStrictJson("a name repeated in one object")
    return dict(pairs)


def _parsed(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique)


def invalid_unicode(pointer: str, where: str = "field") -> ValidationFailed:
    """422 `invalid_unicode`: a lone surrogate (`\\ud800`) is no character; nothing was read or stored."""
    return ValidationFailed(
        "The request holds a lone UTF-16 surrogate (a \\u escape of D800-DFFF without its pair); nothing was stored.",
        code=INVALID_UNICODE,
        errors=[{"pointer": pointer, "message": f"This {where} holds a lone surrogate, which is not a character."}],
    )


def _surrogate_in_parameters(event: dict[str, Any]) -> ValidationFailed | None:
    # API Gateway hands over percent-decoded parameters: `%ED%A0%80` or a `\ud800` smuggled in by a client must
    # stop here, before a route looks anything up by it (a DynamoDB key or a log line would not encode).
    params: dict[str, Any] = dict(event.get("multiValueQueryStringParameters") or {})
    for name, value in (event.get("queryStringParameters") or {}).items():
        params.setdefault(name, [value])
    for name, values in params.items():
        items = values if isinstance(values, list) else [values]
        if has_lone_surrogate(str(name)) or any(has_lone_surrogate(str(item)) for item in items):
            return invalid_unicode("/" + repaired(str(name)), "query parameter")
    for name, value in (event.get("pathParameters") or {}).items():
        if has_lone_surrogate(str(name)) or has_lone_surrogate(str(value)):
            return invalid_unicode("/" + repaired(str(name)), "path parameter")
    if has_lone_surrogate(str(event.get("path") or "")):
        return invalid_unicode("", "path")
    return None


def _non_ascii_query(event: dict[str, Any]) -> str | None:
    # No query parameter of this API carries text: limits, cursors, times and filters are ASCII. A non-ASCII
    # character is refused here once, for every route, so no parser ever reads `²` or `٣` as a digit.
    params: dict[str, Any] = dict(event.get("multiValueQueryStringParameters") or {})
    for name, value in (event.get("queryStringParameters") or {}).items():
        params.setdefault(name, [value])
    for name, values in params.items():
        items = values if isinstance(values, list) else [values]
        if not str(name).isascii() or any(not str(item).isascii() for item in items):
            return str(name)
    return None


# What every route answers with: its JSON, or a problem. A route with other answers (security.txt, a carrier's
# handshake or call script) names them in `handle(produces=...)`.
ANSWERS: frozenset[str] = frozenset({"application/json", PROBLEM_CONTENT_TYPE})


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0  # a malformed weight admits nothing rather than everything
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def acceptable(accept: str | None, produces: frozenset[str]) -> bool:
    """True when an Accept header (RFC 9110 §12.5.1) admits one of `produces`: a missing or empty header admits
    anything; `*/*` and `type/*` ranges match; a range with q=0 excludes what it names."""
    if accept is None or not accept.strip():
        return True
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        kind, *parameters = item.split(";")
        if kind.strip():
            ranges.append((kind.strip().lower(), _quality(parameters)))

    def weight(media: str) -> float:
        main = media.split("/", maxsplit=1)[0]
        # The most specific range that matches decides (RFC 9110 §12.5.1), whatever its order in the header.
        for candidate in (media, f"{main}/*", "*/*"):
            weights = [q for kind, q in ranges if kind == candidate]
            if weights:
                return max(weights)
        return 0.0

    return any(weight(media) > 0 for media in produces)


def _accept_header(event: dict[str, Any]) -> str | None:
    values: list[str] = []
    for name, items in (event.get("multiValueHeaders") or {}).items():
        if str(name).lower() == "accept":
            values.extend(str(v) for v in (items if isinstance(items, list) else [items]))
    if not values:
        values = [str(v) for k, v in (event.get("headers") or {}).items() if str(k).lower() == "accept"]
    # Repeated header lines are one comma-separated list (RFC 9110 §5.3).
    return ", ".join(values) if values else None


def _request_problem(
    event: dict[str, Any],
    produces: frozenset[str] = ANSWERS,
    *,
    signed: bool = False,
    binary: BinaryBody | None = None,
) -> ProblemError | None:
    """What is wrong with the query string, the body's size or the Accept header, whatever the route.

    A signed route's query is part of what its sender signed (Twilio signs the URL it calls, in any script): its
    signature is checked first, and such a route reads no number or time from the query.
    """
    if not acceptable(_accept_header(event), produces):
        return NotAcceptable(
            f"This route answers with {' or '.join(sorted(produces))}; the Accept header admits neither."
        )
    surrogate = _surrogate_in_parameters(event)
    if surrogate is not None:
        return surrogate
    bad_name = None if signed else _non_ascii_query(event)
    if bad_name is not None:
        return BadRequest(
            f"The query parameter {bad_name.encode('ascii', 'replace').decode()!r} holds a non-ASCII character.",
            code="invalid_query",
        )
    return _size_problem(raw_body(event), binary)


def _size_problem(raw: bytes | None, binary: BinaryBody | None) -> ProblemError | None:
    if raw is None:
        return None
    if binary is not None:
        if len(raw) <= binary.max_bytes:
            return None
        return PayloadTooLarge(
            f"A body sent as bytes is at most {binary.max_bytes} bytes; announce a larger file with a JSON body.",
            code="file_too_large",
        )
    if len(raw) > MAX_BODY_BYTES:
        return PayloadTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    return None


def _content_type(event: dict[str, Any]) -> str:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    return media_type(str(headers.get("content-type") or ""))


def _body_problem(event: dict[str, Any], media_types: frozenset[str]) -> ProblemError | None:
    """What is wrong with the body's media type, encoding or JSON (for a signed route: once it verified)."""
    raw = raw_body(event)
    if raw is None:
        return None
    content_type = _content_type(event)
    if content_type and content_type not in media_types:
        # `application/vnd.api+json` and other structured syntaxes are not our contract: refused, never guessed.
        return UnsupportedMediaType(f"Send the request body as {' or '.join(sorted(media_types))}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # JSON travels as UTF-8 (RFC 8259 §8.1), and so do our form bodies: anything else is not ours to guess.
        return BadRequest("The request body is not valid UTF-8.", code="invalid_encoding")
    # Deeper than any of our models: refused before a parser recurses into it.
    if too_deep(text):
        return BadRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", code="invalid_json")
    if content_type in ("", "application/json") and text.strip():
        return _json_problem(text)
    return None


def _json_problem(text: str) -> ProblemError | None:
    try:
        document = _parsed(text)
    except (ValueError, RecursionError):
        # Also integers of more than 4,300 digits, which Python refuses to convert (ValueError, not a decode
        # error) and would otherwise reach the route as a crash.
        return BadRequest("The request body is not valid JSON.", code="invalid_json")
    # Once, here, for every route: a lone surrogate in any string or name, at any depth, is refused before a route
    # stores it (it would seal and save, then fail every read) or rewrites it to U+FFFD.
    pointer = lone_surrogate_pointer(document)
    return invalid_unicode(pointer) if pointer is not None else None


def check_body(event: dict[str, Any], media_types: frozenset[str] = JSON_ONLY) -> None:
    """Raise the problem `handle` answers for a malformed request (a signed route calls it once verified)."""
    error = _body_problem(event, media_types)  # `handle` already checked the rest of the request
    if error is not None:
        raise error


def _problem_result(error: ProblemError, *, request_id: str, path: str | None) -> dict[str, Any]:
    answer = render_problem(error, request_id=request_id, instance=path)
    return {
        "statusCode": answer.status,
        "multiValueHeaders": {name: [value] for name, value in answer.headers.items()},
        "body": answer.body,
        "isBase64Encoded": False,
    }


def _refusal(event: dict[str, Any]) -> str:
    return str(((event.get("requestContext") or {}).get("authorizer") or {}).get("refusal") or "")


def _audit_refusal(event: dict[str, Any], error: ProblemError) -> None:
    """R54: an authenticated caller refused by a route (role, credential type) leaves a denied audit event."""
    if _authorizer(event) is None:
        return
    from switchboard.logic import audit  # noqa: PLC0415 - only refused requests pay for it

    principal = Principal.from_event(event)
    audit.record_denied(
        account_id=principal.account_id,
        type="authorization.denied",
        actor=principal.principal,
        meta=RequestMeta.from_event(event),
        data={
            "code": error.instance_code,
            "method": str(event.get("httpMethod") or ""),
            "route": str(event.get("resource") or ""),
            "role": principal.role,
            "credential": principal.credential,
        },
    )


def _authorizer(event: dict[str, Any]) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return authorizer if authorizer.get("account_id") else None


def _lock_seconds(context: LambdaContext) -> float:
    # The lock must outlive this invocation exactly as long as the function may still run.
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return (remaining() / 1000 if callable(remaining) else DEFAULT_LOCK_S) + 1


# What the middlewares hand `handle` once the route has answered: the RateLimit-* headers, and the Idempotency-Key
# this request claimed (its answer is kept for replay once the resolver has built it).
_limit_headers: ContextVar[dict[str, str] | None] = ContextVar("switchboard_limit_headers", default=None)
_claim: ContextVar[Any] = ContextVar("switchboard_idempotency_claim", default=None)


def _passthrough(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    return next_middleware(app)


def route_policy(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """First middleware: the catalog route's policy (who may call it, with what permission, how recently
    authenticated), before anything is counted, claimed or replayed."""
    event = app.current_event.raw_event
    route, served = cast(Resolver, app).policy_of(str(event.get("httpMethod") or "").upper())
    if route is None:
        if served:
            # A handler without a declared policy is refused, never run unchecked.
            raise Forbidden("This route declares no access policy.", code="forbidden")
        return next_middleware(app)  # nothing serves it: the resolver answers 404
    if route.auth is catalog.Auth.OPERATOR:
        # The operator API (IAM-authorized): an operator role with MFA whose role holds the route's permission.
        if not isinstance(route.permission, operators.OperatorPermission):
            raise Forbidden("This route declares no operator permission.", code="forbidden")
        operators.enforce(event, route.permission)
        return next_middleware(app)
    if isinstance(route.permission, operators.OperatorPermission):
        raise Forbidden("An operator permission on a customer route is refused.", code="forbidden")
    if route.auth is not catalog.Auth.PUBLIC:
        enforce(
            Principal.from_event(event),
            session_only=route.auth is catalog.Auth.SESSION,
            permission=route.permission,
            reauth=route.reauth,
        )
    return next_middleware(app)


def rate_limit(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Second middleware: an authenticated request spends a token of its account (and key), or is 429."""
    auth = _authorizer(app.current_event.raw_event)
    if auth is None:
        return next_middleware(app)
    # Loaded on the first authenticated request only: public functions never pay for boto3 or the crypto stack.
    from switchboard.logic import ratelimit  # noqa: PLC0415

    decision = ratelimit.check(
        account_id=str(auth["account_id"]), key_id=str(auth.get("key_id") or ""), plan=str(auth.get("plan") or "")
    )
    _limit_headers.set(decision.headers())
    if not decision.allowed:
        raise RateLimited("Too many requests; nothing was processed.", retry_after_s=decision.retry_after_s)
    return next_middleware(app)


def _response_of(stored: dict[str, Any]) -> Response[Any]:
    """A kept proxy answer as the Response the resolver turns back into the same answer."""
    headers: dict[str, str | list[str]] = {k: list(v) for k, v in (stored.get("multiValueHeaders") or {}).items()}
    for name, value in (stored.get("headers") or {}).items():
        headers.setdefault(name, str(value))
    body: str | bytes = str(stored.get("body") or "")
    if stored.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return Response(status_code=int(stored["statusCode"]), body=body, headers=headers)


def idempotent(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Third middleware: an authenticated POST with an Idempotency-Key claims it, or replays its first answer."""
    event = app.current_event.raw_event
    auth = _authorizer(event)
    if auth is None or str(event.get("httpMethod") or "").upper() != "POST":
        return next_middleware(app)
    from switchboard.logic import idempotency  # noqa: PLC0415

    key = idempotency.key_from(event)
    if key is None:
        return next_middleware(app)
    principal = Principal.from_event(event)
    fingerprint = idempotency.fingerprint(
        principal=principal.principal, method="POST", path=str(event.get("path") or ""), body=event.get("body")
    )
    started = idempotency.begin(
        account_id=str(auth["account_id"]),
        key=key,
        request_fingerprint=fingerprint,
        lock_s=_lock_seconds(app.lambda_context),
    )
    if isinstance(started, idempotency.Replay):
        # The route's policy already held for this caller; a replay also passes what the first request's code
        # checked, and a one-time secret is never shown again.
        return _response_of(idempotency.replay(started, principal))
    _claim.set(started)
    return next_middleware(app)


def _resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The middlewares and the route; then the claimed Idempotency-Key keeps the answer."""
    claim_token = _claim.set(None)
    secret_token = _shows_secret.set(False)
    try:
        with recording() as checks:
            result = app.resolve(event, context)
        claim = _claim.get()
        shown = _shows_secret.get()
    except Exception:
        claim = _claim.get()
        if claim is not None:
            from switchboard.logic import idempotency  # noqa: PLC0415

            idempotency.abandon(claim)
        raise
    finally:
        _claim.reset(claim_token)
        _shows_secret.reset(secret_token)
    if claim is not None:
        from switchboard.logic import idempotency  # noqa: PLC0415

        try:
            idempotency.finish(claim, result, checks=checks, shows_secret=shown)
        except Exception as failure:
            # The route's work is done: its answer goes out; only a replay of it is lost (the lock then lapses).
            if not clients.transient(failure):
                raise
            logger.warning("idempotent answer not kept", extra={"error_type": type(failure).__name__})
    return result


def handle(
    app: APIGatewayRestResolver,
    event: dict[str, Any],
    context: LambdaContext,
    *,
    media_types: frozenset[str] = JSON_ONLY,
    signed: bool = False,
    produces: Mapping[str, frozenset[str]] | None = None,
    binary: Mapping[str, BinaryBody] | None = None,
) -> dict[str, Any]:
    """Resolve one proxy event: URL credentials and body checks, then the middlewares, then shared headers.

    `produces`: per route (resource template), the media types it answers with besides JSON and problems
    (for Accept, R37: an Accept that admits none of them is a 406).
    `signed`: the body is signed by a third party (billing, carriers), whose route verifies the signature first
    and then calls `check_body` itself: an unsigned request learns nothing about how its body would be read.
    `binary`: per route (resource template), the raw media types it also takes as its body (a file upload).
    """
    request_id = (event.get("requestContext") or {}).get("requestId", "")
    logger.append_keys(request_id=request_id)
    try:
        # First, on every route (public ones too) and whatever the body: a credential in the URL is already leaked
        # into logs and histories, so nothing else runs and the caller learns why (R27).
        refuse_credentials_in_url(event)
        resource = str(event.get("resource") or "")
        answers = ANSWERS | (produces or {}).get(resource, frozenset())
        upload = (binary or {}).get(resource)
        if upload is not None and _content_type(event) not in upload.media_types:
            upload = None  # not sent as bytes: a JSON body like any other
        error = _request_problem(event, answers, signed=signed, binary=upload) or (
            None if signed or upload is not None else _body_problem(event, media_types)
        )
    except ProblemError as refused:
        error = refused
    if error is None and _refusal(event) == SERVICE_UNAVAILABLE:
        # The authorizer could not check the credential: nobody is authenticated, the caller retries shortly.
        error = ServiceUnavailable("We could not check your credentials just now; retry shortly.")
    _normalize_content_type(event)
    limits_token = _limit_headers.set(None)
    try:
        if error is not None:
            result = _problem_result(error, request_id=request_id, path=event.get("path"))
        else:
            # Route policy, rate limit, idempotency, route: the resolver's middlewares (`build_resolver`).
            result = _resolve(app, event, context)
        limit_headers = _limit_headers.get() or {}
    finally:
        _limit_headers.reset(limits_token)
    multi = result.setdefault("multiValueHeaders", {})
    single = result.get("headers") or {}
    # A route's own security header stands (a file's `Cache-Control: private, no-store`); the rest are ours.
    own = {str(name).lower() for name in multi} | {str(name).lower() for name in single}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in own:
            multi[name] = [value]
    for name, value in {**limit_headers, "X-Request-Id": request_id}.items():
        if name not in single:
            multi[name] = [value]
    return result
