"""Domain errors, plain exceptions (no pydantic: every function raises them); switchboard.api renders each one."""

from __future__ import annotations

from typing import Any, ClassVar


class ProblemError(Exception):
    """An error a caller can act on: a stable snake_case code, an HTTP status and a human-readable detail."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance_code = code or self.code
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(ProblemError):
    """The request is malformed (not JSON, credentials in the URL, ...)."""


class InvalidJson(BadRequest):
    """The request body is not JSON (as the resolver's and the local routes' parsers find it)."""

    code = "invalid_json"
    title = "Invalid JSON"


class ValidationFailed(ProblemError):
    """The request is well-formed but its content is invalid; `errors` point at each bad field."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, detail: str, *, errors: list[dict[str, str]], code: str | None = None) -> None:
        super().__init__(detail, code=code, extra={"errors": errors})

    @classmethod
    def at(cls, pointer: str, message: str) -> ValidationFailed:
        """One invalid field: its JSON pointer and what is wrong with it."""
        return cls("The request has invalid fields.", errors=[{"pointer": pointer, "message": message}])


class Unauthorized(ProblemError):
    """Missing, wrong or expired credentials."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(ProblemError):
    """Authenticated, but the role lacks the permission."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(ProblemError):
    """Does not exist, or belongs to another account (the two are indistinguishable on purpose)."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ProblemError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(ProblemError):
    """The body exceeds the 64 KiB limit."""

    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(ProblemError):
    """The body is not application/json."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class NotAcceptable(ProblemError):
    """The Accept header admits none of the media types the route answers with (R37)."""

    status = 406
    code = "not_acceptable"
    title = "Not acceptable"


class RateLimited(ProblemError):
    """Over a limit; nothing was processed, so retrying after `Retry-After` is safe."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, retry_after_s))})


class ServiceUnavailable(ProblemError):
    """An AWS service we depend on throttled or failed for a moment; retry after `Retry-After` (never a 500)."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class CardDataRefused(ValidationFailed):
    """A field holds what looks like a payment card number (R70): named apart from other invalid fields."""

    code = "card_data_refused"
    title = "Card data refused"


class InternalError(ProblemError):
    """Something failed on our side; what failed goes to the log, never to the caller."""

    status = 500
    code = "internal_error"
    title = "Internal error"
