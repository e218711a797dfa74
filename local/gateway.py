"""The local API Gateway: catalog routes → REST proxy events → the same authorizer and handlers as deployed."""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from infra import request_models
from infra.gateway_errors import METHOD_NOT_ALLOWED, GatewayError, gateway_error
from local import operators
from local.lambdas import Invoker
from local.provision import ACCOUNT_ID, REGION, STAGE
from switchboard import catalog, files
from switchboard.headers import PROBLEM_CONTENT_TYPE, SECURITY_HEADERS

log = logging.getLogger("local")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; handlers enforce their own, smaller one
API_ID = "local"
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")
ANY_TYPE = "*/*"  # in binaryMediaTypes: every body and answer is binary


@dataclass(frozen=True)
class Request:
    """One HTTP request as the gateway received it (headers in arrival order, names as sent)."""

    method: str
    target: str  # path and query string, as on the request line
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def path(self) -> str:
        """The decoded path without the query string."""
        return unquote(urlsplit(self.target).path) or "/"

    def header(self, name: str) -> str | None:
        """The last value of a header (case-insensitive), as API Gateway's single-value `headers` keeps it."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class Response:
    """What goes back to the client: status, headers (a name may repeat) and the raw body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def error_response(response_type: str | GatewayError, request_id: str, validation_error: str = "") -> Response:
    """One of API Gateway's own error answers (infra/gateway_errors.py), with the headers every answer carries."""
    error = gateway_error(response_type) if isinstance(response_type, str) else response_type
    headers = [("Content-Type", PROBLEM_CONTENT_TYPE), *SECURITY_HEADERS.items(), ("X-Request-Id", request_id)]
    return Response(error.status, headers, error.body(request_id, validation_error).encode())


def method_not_allowed(methods: Iterable[str], request_id: str) -> Response:
    """405 with `Allow` naming the methods the path has (RFC 9110 §15.5.6, R40)."""
    response = error_response(METHOD_NOT_ALLOWED, request_id)
    response.headers.append(("Allow", ", ".join(sorted(set(methods)))))
    return response


# --- request validation --------------------------------------------------------------------------------------------


def model_media_type(content_type: str | None) -> str:
    """The key API Gateway looks the method's model up by: the media type without parameters, lower case.

    Without a Content-Type API Gateway assumes application/json (as for mapping templates), so such a body is
    validated; `application/json; charset=utf-8` or `Application/JSON` select the application/json model too.
    """
    return (content_type or request_models.JSON).split(";")[0].strip().lower()


def _jvm_pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # API Gateway's validator runs on the JVM, where `\s`, `\d` and `\w` are ASCII classes (Python's `\s` also
    # matches \x1c-\x1f, so without re.ASCII an address the deployed gateway and the handler accept would fail).
    if validator.is_type(instance, "string") and re.search(pattern, instance, re.ASCII) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 4 as API Gateway applies it. `format` is not checked: whether API Gateway does is undocumented, and not
# checking can only let a body through to the handler, whose pydantic model checks it (422).
ModelValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]  # untyped in the stubs
    Draft4Validator, {"pattern": _jvm_pattern}
)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def body_error(validator: Validator, body: bytes) -> str | None:
    """Why API Gateway's request validator refuses `body` for this model, or None when it passes.

    An empty body: AWS's documentation does not say how the validator treats it. We validate it as `{}`, as
    infra/request_models.py already assumes for an optional body: a required body's missing properties are refused
    here (never more forgiving than deployed), an optional body's model admits it. A body that is not JSON (nor
    UTF-8, nor strict JSON: no NaN) fails validation. The text differs from API Gateway's (its validator words
    errors its own way, e.g. `[object has missing required properties (["email"])]`); the contract is the 400
    `invalid_body` with a reason in `detail`.
    """
    try:
        document = json.loads(body, parse_constant=_not_json) if body.strip() else {}
    except (ValueError, RecursionError):
        return "[the body is not valid JSON]"
    error = best_match(validator.iter_errors(document))
    if error is None:
        return None
    pointer = "".join(f"/{part}" for part in error.absolute_path)
    # jsonschema's messages quote the offending value, which may be a password: name only the broken rule.
    if error.validator in {"required", "additionalProperties"}:
        broken = error.message
    elif error.validator in {"anyOf", "oneOf"}:
        broken = f"matches none of the {error.validator} schemas"
    else:
        broken = f"fails {error.validator} {json.dumps(error.validator_value)}"[:200]
    return f"[{pointer or '/'}: {broken}]"


# --- routing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRoute:
    """A catalog route with its path template compiled the way API Gateway matches resources."""

    route: catalog.Route
    function: catalog.Function
    pattern: re.Pattern[str]
    # Literal segments beat `{param}`, which beats `{proxy+}`: API Gateway picks the most specific resource.
    rank: tuple[int, ...]


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """A regex with one named group per path parameter, and the template's specificity rank."""
    parts: list[str] = []
    rank: list[int] = []
    for segment in template.strip("/").split("/") if template != "/" else []:
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
            rank.append(2)
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return re.compile("^/" + "/".join(parts) + "/?$"), tuple(rank)


class Router:
    """Finds the catalog route for a method and path."""

    def __init__(self, routes: Iterable[tuple[catalog.Route, catalog.Function]]) -> None:
        compiled = [CompiledRoute(route, fn, *compile_template(route.path)) for route, fn in routes]
        self.routes = sorted(compiled, key=lambda c: c.rank)

    def match(self, method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        """The most specific route for this method and path with its path parameters, or None."""
        for candidate in self.routes:
            found = candidate.pattern.match(path)
            if found and candidate.route.method == method:
                return candidate, found.groupdict()
        return None

    def methods(self, path: str) -> set[str]:
        """The methods of the resource that serves `path` (API Gateway picks the most specific resource first)."""
        matching = [c for c in self.routes if c.pattern.match(path)]
        if not matching:
            return set()
        best = min(c.rank for c in matching)
        resource = next(c.route.path for c in matching if c.rank == best)
        return {c.route.method for c in matching if c.route.path == resource}


# --- events ------------------------------------------------------------------------------------------------------


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return multi


def _is_text(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return not media or media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml"))


def request_context(request: Request, resource: str, port: int) -> dict[str, Any]:
    """`requestContext` as API Gateway fills it for a REST API (authorizer added once it has run)."""
    now = datetime.now(UTC)  # the transport's own time, like API Gateway's: not the platform clock
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": f"127.0.0.1:{port}",
        "domainPrefix": "127",
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": request.header("User-Agent"),
            "userArn": None,
        },
        "path": request.path,
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": API_ID,
        "resourcePath": resource,
        "stage": STAGE,
    }


def proxy_event(
    request: Request,
    resource: str,
    path_parameters: dict[str, str],
    port: int,
    binary_types: Sequence[str] = (),
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends to a Lambda integration for this request (`resource`: the resource
    in the RestApi that serves it; `binary_types`: that API's binaryMediaTypes)."""
    headers = [*request.headers, ("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http")]
    query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
    multi_query = _multi(query)
    if not request.body:
        body, encoded = None, False
    elif ANY_TYPE in binary_types:
        body, encoded = base64.b64encode(request.body).decode(), True
    elif _is_text(request.header("Content-Type")):
        try:
            body, encoded = request.body.decode(), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(request.body).decode(), True
    else:
        body, encoded = base64.b64encode(request.body).decode(), True
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in _multi(headers).items()},
        "multiValueHeaders": _multi(headers),
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context(request, resource, port),
        "body": body,
        "isBase64Encoded": encoded,
    }


def decodes(accept: str | None, binary_types: Sequence[str]) -> bool:
    """Whether API Gateway turns a Lambda's base64 answer back into bytes: only when the request's first Accept type
    is one of the API's binaryMediaTypes (`*/*` among them: always); otherwise the client gets the base64 text."""
    if ANY_TYPE in binary_types:
        return True
    first = (accept or "").split(",")[0].split(";")[0].strip().lower()
    return bool(first) and first in binary_types


def method_arn(method: str, path: str) -> str:
    """The ARN API Gateway puts in a REQUEST authorizer event for this method and path."""
    return f"arn:aws:execute-api:{REGION}:000000000000:{API_ID}/{STAGE}/{method}{path}"


def authorizer_event(proxy: dict[str, Any]) -> dict[str, Any]:
    """A REQUEST authorizer event (the proxy event's request parts, the method ARN, type REQUEST)."""
    keys = [
        *("resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters"),
        *("multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext"),
    ]
    event = {key: proxy[key] for key in keys}
    return {"type": "REQUEST", "methodArn": method_arn(proxy["httpMethod"], proxy["path"]), **event}


# --- authorizer results --------------------------------------------------------------------------------------------


class AuthorizerVerdict(Exception):
    """The authorizer refused (or broke); carries the API Gateway response type to answer with."""

    def __init__(self, response_type: str) -> None:
        super().__init__(response_type)
        self.response_type = response_type


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_matches(pattern: str, arn: str) -> bool:
    # IAM wildcards: `*` any run of characters (also across `/`), `?` one character; nothing else is special.
    return fnmatch.fnmatchcase(arn, pattern.replace("[", "[[]"))


def _action_matches(action: str) -> bool:
    return action.lower() in {"*", "execute-api:*", "execute-api:invoke"}


def interpret(result: Any, arn: str) -> dict[str, str]:
    """`requestContext.authorizer` for an Allow on `arn`; raises AuthorizerVerdict as API Gateway would refuse."""
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        raise AuthorizerVerdict("AUTHORIZER_CONFIGURATION_ERROR")
    principal = result.get("principalId")
    statements = _as_list(result["policyDocument"].get("Statement", []))
    context = result.get("context") or {}
    if not isinstance(principal, str) or not isinstance(context, dict):
        raise AuthorizerVerdict("AUTHORIZER_CONFIGURATION_ERROR")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            raise AuthorizerVerdict("AUTHORIZER_CONFIGURATION_ERROR")
        applies = any(_action_matches(str(a)) for a in _as_list(statement.get("Action", []))) and any(
            _arn_matches(str(r), arn) for r in _as_list(statement.get("Resource", []))
        )
        if applies and statement.get("Effect") == "Deny":
            raise AuthorizerVerdict("ACCESS_DENIED")  # an explicit Deny wins over any Allow
        allowed = allowed or (applies and statement.get("Effect") == "Allow")
    if not allowed:
        raise AuthorizerVerdict("ACCESS_DENIED")
    authorizer = {"principalId": principal}
    for key, value in context.items():
        # API Gateway admits only string, number and boolean values and hands them to the integration as strings.
        if isinstance(value, bool):
            authorizer[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            authorizer[key] = str(value)
        else:
            raise AuthorizerVerdict("AUTHORIZER_CONFIGURATION_ERROR")
    return authorizer


# --- the gateway ---------------------------------------------------------------------------------------------------

LocalHandler = Callable[[Request, dict[str, str]], Response]


class Gateway:
    """Dispatches requests: local-only routes first, then catalog routes through the authorizer and the handler."""

    def __init__(
        self,
        *,
        invoker: Invoker,
        routes: Iterable[tuple[catalog.Route, catalog.Function]] | None = None,
        authorizer: catalog.Function | None = None,
        use_catalog_authorizer: bool = True,
        port: int = 8080,
        operator_keys: operators.Keys | None = None,
    ) -> None:
        self.invoker = invoker
        # Both APIs on one port: deployed, operator routes are a separate RestApi (IAM auth), customer routes another.
        self.router = Router(catalog.all_routes() if routes is None else routes)
        self.operator_keys = operator_keys  # None: every operator route is refused
        self.authorizer = catalog.authorizer() if authorizer is None and use_catalog_authorizer else authorizer
        self.port = port
        self.local_routes: list[tuple[str, re.Pattern[str], LocalHandler]] = []
        # The very schemas synth deploys as the methods' request models, so local and deployed validation agree.
        self.validators = {key: ModelValidator(model.schema) for key, model in request_models.committed().items()}

    def add_local_route(self, method: str, template: str, handler: LocalHandler) -> None:
        """Serve a route from the gateway itself (the /_local routes, the OpenAPI document and its UI)."""
        self.local_routes.append((method, compile_template(template)[0], handler))

    def dispatch(self, request: Request) -> Response:
        """Answer one request; every answer carries X-Request-Id."""
        response = self._dispatch(request)
        if response.header("X-Request-Id") is None:
            response.headers.append(("X-Request-Id", request.request_id))
        return response

    def _dispatch(self, request: Request) -> Response:
        if len(request.body) > MAX_BODY_BYTES:
            return error_response("REQUEST_TOO_LARGE", request.request_id)
        for method, pattern, handler in self.local_routes:
            found = pattern.match(request.path)
            if found and method == request.method:
                return handler(request, found.groupdict())
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return self._unrouted(request)
        compiled, parameters = matched
        binary_types = files.binary_types(compiled.route.path)
        event = proxy_event(
            request, catalog.api_resource(compiled.route.path), parameters, self.port, binary_types=binary_types
        )
        refused = self._authenticate(compiled.route, request, event)
        if refused is not None:
            return refused
        # API Gateway validates the request after the authorizer allowed it and before the integration runs.
        validator = self.validators.get((compiled.route.method, compiled.route.path))
        if validator is not None and model_media_type(request.header("Content-Type")) == request_models.JSON:
            problem = body_error(validator, request.body)
            if problem is not None:
                return error_response("BAD_REQUEST_BODY", request.request_id, problem)
        decode = decodes(request.header("Accept"), binary_types)
        return self._invoke(compiled.function, event, request.request_id, decode=decode)

    def _unrouted(self, request: Request) -> Response:
        """405 with `Allow` for a path that has other methods, else 404."""
        methods = {method for method, pattern, _ in self.local_routes if pattern.match(request.path)}
        methods = methods or self.router.methods(request.path)
        if methods:
            # Deployed, each resource's catch-all method (a MOCK integration) answers the same 405.
            return method_not_allowed(methods, request.request_id)
        # Deployed, an unknown path is API Gateway's MISSING_AUTHENTICATION_TOKEN, answered as 404.
        return error_response("MISSING_AUTHENTICATION_TOKEN", request.request_id)

    def _authenticate(self, route: catalog.Route, request: Request, event: dict[str, Any]) -> Response | None:
        """Fill in who calls (the authorizer's context, or an operator's IAM identity), or the refusal to answer."""
        if route.auth is catalog.Auth.OPERATOR:
            try:
                event["requestContext"]["identity"] = self._operator_identity(request, event)
            except operators.SignatureRefused as refused:
                # API Gateway's IAM auth refuses before any Lambda runs: nothing is invoked, nothing audited.
                log.info("operator signature refused: %s", refused)
                return error_response("ACCESS_DENIED", request.request_id)
        elif route.auth is not catalog.Auth.PUBLIC:
            try:
                event["requestContext"]["authorizer"] = self._authorize(event)
            except AuthorizerVerdict as verdict:
                return error_response(verdict.response_type, request.request_id)
        return None

    def _operator_identity(self, request: Request, event: dict[str, Any]) -> dict[str, Any]:
        """`requestContext.identity` of a request SigV4-signed by a known operator key (AWS_IAM authorization)."""
        if self.operator_keys is None:
            raise operators.SignatureRefused("no operator credentials in this stack")
        credential = operators.verify(
            self.operator_keys,
            method=request.method,
            target=request.target,
            headers=list(request.headers),
            body=request.body,
        )
        return operators.identity(credential, event["requestContext"]["identity"])

    def _authorize(self, event: dict[str, Any]) -> dict[str, str]:
        if self.authorizer is None:
            raise AuthorizerVerdict("UNAUTHORIZED")  # deny by default: a guarded route without an authorizer
        auth_event = authorizer_event(event)
        try:
            result = self.invoker.run(self.authorizer, auth_event)
        except Exception as error:
            # Lambda authorizers refuse a caller by raising exactly "Unauthorized"; any other failure is a 500.
            if str(error) == "Unauthorized":
                raise AuthorizerVerdict("UNAUTHORIZED") from None
            log.exception("authorizer failed", extra={"error_type": type(error).__name__})
            raise AuthorizerVerdict("AUTHORIZER_FAILURE") from None
        return interpret(result, auth_event["methodArn"])

    def _invoke(self, function: catalog.Function, event: dict[str, Any], request_id: str, *, decode: bool) -> Response:
        try:
            result = self.invoker.run(function, event)
        except Exception as error:
            log.exception("handler failed", extra={"function": function.name, "error_type": type(error).__name__})
            return error_response("INTEGRATION_FAILURE", request_id)
        try:
            return proxy_result(result, decode=decode)
        except (TypeError, ValueError, KeyError):
            # A malformed proxy result: API Gateway answers 502 too.
            log.exception("malformed proxy result", extra={"function": function.name})
            return error_response("INTEGRATION_FAILURE", request_id)


def proxy_result(result: dict[str, Any], *, decode: bool = True) -> Response:
    """The HTTP answer for a Lambda proxy result (`headers` and `multiValueHeaders` merged; a base64 body decoded
    when `decode`, else passed on as the text it is, as API Gateway does: `decodes`)."""
    status = int(result["statusCode"])
    multi = {k: [str(v) for v in _as_list(vs)] for k, vs in (result.get("multiValueHeaders") or {}).items()}
    seen = {k.lower() for k in multi}
    headers = [(k, v) for k, vs in multi.items() for v in vs]
    headers += [(k, str(v)) for k, v in (result.get("headers") or {}).items() if k.lower() not in seen]
    raw = result.get("body") or ""
    body = base64.b64decode(raw, validate=True) if result.get("isBase64Encoded") and decode else str(raw).encode()
    return Response(status, headers, body)


# --- HTTP --------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: GatewayServer
    server_version = "switchboard-local"
    sys_version = ""

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except ValueError:
            body = b""
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body or b"",
            source_ip=self.client_address[0],
        )
        response = error_response("REQUEST_TOO_LARGE", request.request_id) if body is None else None
        response = response or self.server.gateway.dispatch(request)
        try:
            self._write(response, close=body is None)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. curl's timeout) before the answer: nothing to send it to.
            self.close_connection = True
            response = replace(response, status=499)
        # One line per request; never headers, bodies or the query string (it may carry a token).
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("%s %s %s %.1fms", request.method, request.path, response.status, elapsed_ms)

    def _write(self, response: Response, *, close: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")  # the unread body cannot be skipped safely
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method token (TRACE, CONNECT, PROPFIND, ...) is routed too: the gateway answers 405 with
        # `Allow` on a known path, 404 elsewhere, as problem+json (the stdlib would send a 501 HTML page).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a malformed request line, headers too long, ...) as problem+json."""
        request_id = str(uuid.uuid4())
        error = GatewayError("", code, "bad_request" if code < 500 else "internal_error", "Bad request", "")
        body = json.loads(error.body(request_id))
        body.update(title=message or "Bad request", detail=explain or message or "The request could not be read.")
        data = json.dumps(body).encode()
        self.close_connection = True
        try:
            self.send_response(code, message)
            for name, value in [("Content-Type", PROBLEM_CONTENT_TYPE), *SECURITY_HEADERS.items()]:
                self.send_header(name, value)
            self.send_header("X-Request-Id", request_id)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(data)
        except OSError:
            return  # the client is gone

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's access log: _serve logs one line without the query string."""


class GatewayServer(ThreadingHTTPServer):
    """The HTTP server in front of a Gateway (one thread per connection)."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a client opens dozens at once (the race suites
    # send 50 parallel logins); a real gateway queues them.
    request_queue_size = 128

    def __init__(self, gateway: Gateway, port: int, host: str = "127.0.0.1") -> None:
        self.gateway = gateway
        super().__init__((host, port), _Handler)
