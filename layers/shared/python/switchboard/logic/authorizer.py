"""The REQUEST authorizer's decision: a live credential → Allow with the principal's context, else Unauthorized."""

from __future__ import annotations

from typing import Any

from switchboard import auth, signals
from switchboard.crypto import tokens
from switchboard.dal import clients
from switchboard.models.request import RequestMeta
from switchboard.observability import logger

# API Gateway turns exactly this message into a 401 (with our problem+json gateway response).
UNAUTHORIZED = "Unauthorized"
CONTEXT_KEYS = ("account_id", "principal", "role", "credential", "session_id", "key_id", "plan", "mode", "auth_at")


class Denied(Exception):
    """Missing, malformed, unknown, expired or refused credential."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def _bearer(event: dict[str, Any]) -> str:
    headers: dict[str, Any] = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            headers[name.lower()] = values[-1]
    for name, value in (event.get("headers") or {}).items():
        headers[name.lower()] = value
    value = str(headers.get("authorization") or "")
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _resource(method_arn: str) -> str:
    # arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path> → the whole stage: the answer is the
    # same for every route (the handlers check permissions), and TTL 0 means it is never reused anyway.
    arn, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    return f"{arn}/{stage}/*"


def _allow(principal_id: str, method_arn: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _resource(method_arn)}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """The authorizer response for one REQUEST event; raises Denied (→ 401).

    Lambda counts both a refusal and a failure as an Errors of the function: each also emits its own metric, and
    only the failure's has an alarm (a refused credential is ordinary traffic, docs/alarms.md).
    """
    try:
        return _decide(event)
    except Denied:
        signals.count(signals.CREDENTIALS_REFUSED)
        raise
    except Exception:
        signals.count(signals.AUTHORIZER_INTERNAL_ERRORS)
        raise


def _decide(event: dict[str, Any]) -> dict[str, Any]:
    method_arn = str(event.get("methodArn") or "")
    refusal = auth.refusal_of(event)
    if refusal:
        # An authorizer cannot answer 400; allow with a refusal every handler turns into 400 with that code.
        context = dict.fromkeys(CONTEXT_KEYS, "") | {"refusal": refusal}
        logger.info("credentials refused", extra={"refusal": refusal})
        return _allow("anonymous", method_arn, context)
    credential = _bearer(event)
    # PynamoDB alone costs about a bare `import boto3`: it loads with the first credential to check, so the
    # authorizer's cold import stays under the goal and a refused or absent credential never loads it.
    from switchboard.logic import api_keys, sessions  # noqa: PLC0415 - PynamoDB and botocore load on first use

    context_or_none: dict[str, str] | None = None
    try:
        if credential.startswith(tokens.SESSION_PREFIX):
            context_or_none = sessions.resolve(credential)
        elif credential.startswith(("sb_live_", "sb_test_")):
            context_or_none = api_keys.resolve(credential, RequestMeta.from_event(event))
    except Exception as error:
        # AWS throttled or failed for a moment: an authorizer's own error is API Gateway's 500, so it allows with
        # a refusal that every handler answers first, as 503 with Retry-After (no principal: nothing can act).
        if not clients.transient(error):
            raise
        logger.warning("credential check unavailable", extra={"error_type": type(error).__name__})
        context = dict.fromkeys(CONTEXT_KEYS, "") | {"refusal": auth.SERVICE_UNAVAILABLE}
        return _allow("anonymous", method_arn, context)
    if context_or_none is None:
        raise Denied
    logger.append_keys(account_id=context_or_none["account_id"], principal=context_or_none["principal"])
    return _allow(context_or_none["principal"], method_arn, context_or_none)
