"""Operator API (IAM-authorized, R34): whoami, an account's metadata without personal data, incident actions (R68)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, operators
from switchboard.models.incident import (
    AccountStatusOut,
    ActionIn,
    ForcedResetOut,
    KeysRevokedOut,
    SessionsEndedOut,
    SuspendIn,
)
from switchboard.models.operators import AccountMetadataOut, OperatorOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.get(
    "/ops/v1/whoami",
    summary="The calling operator",
    tags=["operators"],
    responses=api.answers(200, OperatorOut, "The operator IAM authenticated and their role's permissions"),
)
def whoami() -> Response[str]:
    """Who signed this request (role session name), their role and MFA."""
    from switchboard.logic import operator_accounts  # noqa: PLC0415 - loaded with the first request

    return api.json_response(200, operator_accounts.whoami(operators.operator_of(app)))


@app.get(
    "/ops/v1/accounts/<account_id>",
    summary="An account's metadata (no personal data)",
    tags=["operators"],
    responses=api.answers(200, AccountMetadataOut, "Status, plan, dates and counts", problems=(404,)),
)
def account_metadata(account_id: str) -> Response[str]:
    """Status, plan, created_at, purge_after and counts; the read is an audit event in that account (R34)."""
    from switchboard.logic import operator_accounts  # noqa: PLC0415

    operator = operators.operator_of(app)
    answer = operator_accounts.account_metadata(operator, account_id, api.request_meta(app))
    return api.json_response(200, answer, exclude_none=True)


def _acting(body: ActionIn | SuspendIn | None) -> dict[str, Any]:
    """The incident action's `actor`, `reason` and `meta` (route_policy has checked role, MFA and permission)."""
    return {
        "actor": operators.operator_of(app).actor,
        "reason": body.reason if body else None,
        "meta": api.request_meta(app),
    }


@app.post(
    "/ops/v1/accounts/<account_id>/suspend",
    summary="Suspend an account",
    tags=["operators"],
    responses=api.answers(200, AccountStatusOut, "Suspended (changed: false when it already was)", problems=(404, 409)),
)
def suspend_account(account_id: str, body: Annotated[SuspendIn, Body()]) -> Response[str]:
    """Every session ends, keys and logins are refused from the next request, sends and webhooks are held (R68)."""
    from switchboard.logic import incident  # noqa: PLC0415 - loaded with the first request

    return api.json_response(200, incident.suspend(account_id, **_acting(body)))


@app.post(
    "/ops/v1/accounts/<account_id>/reinstate",
    summary="Reinstate a suspended account",
    tags=["operators"],
    responses=api.answers(200, AccountStatusOut, "Active again; held traffic goes out once", problems=(404, 409)),
)
def reinstate_account(account_id: str, body: Annotated[ActionIn | None, Body()] = None) -> Response[str]:
    """Keys and logins work again; the release job sends held messages and webhooks once (409 unless suspended)."""
    from switchboard.logic import incident  # noqa: PLC0415

    return api.json_response(200, incident.reinstate(account_id, **_acting(body)))


@app.post(
    "/ops/v1/accounts/<account_id>/sessions/end",
    summary="End every session of an account",
    tags=["operators"],
    responses=api.answers(200, SessionsEndedOut, "Sessions ended (refused from the next request)", problems=(404,)),
)
def end_account_sessions(account_id: str, body: Annotated[ActionIn | None, Body()] = None) -> Response[str]:
    """Every user's sessions end; each user who had one is e-mailed."""
    from switchboard.logic import incident  # noqa: PLC0415

    return api.json_response(200, incident.end_sessions(account_id, **_acting(body)))


@app.post(
    "/ops/v1/accounts/<account_id>/users/<user_id>/sessions/end",
    summary="End every session of one user",
    tags=["operators"],
    responses=api.answers(200, SessionsEndedOut, "Sessions ended (refused from the next request)", problems=(404,)),
)
def end_user_sessions(account_id: str, user_id: str, body: Annotated[ActionIn | None, Body()] = None) -> Response[str]:
    """The user's sessions end; they are e-mailed if they had one."""
    from switchboard.logic import incident  # noqa: PLC0415

    return api.json_response(200, incident.end_sessions(account_id, user_id=user_id, **_acting(body)))


@app.post(
    "/ops/v1/accounts/<account_id>/api-keys/revoke",
    summary="Revoke every API key of an account",
    tags=["operators"],
    responses=api.answers(200, KeysRevokedOut, "Keys revoked (refused from the next request)", problems=(404,)),
)
def revoke_account_keys(account_id: str, body: Annotated[ActionIn | None, Body()] = None) -> Response[str]:
    """Every live key of the account is revoked; the owners are e-mailed."""
    from switchboard.logic import incident  # noqa: PLC0415

    return api.json_response(200, incident.revoke_keys(account_id, **_acting(body)))


@app.post(
    "/ops/v1/accounts/<account_id>/users/<user_id>/force-password-reset",
    summary="Force a user's password reset",
    tags=["operators"],
    responses=api.answers(200, ForcedResetOut, "Sessions ended; next login needs a reset", problems=(404,)),
)
def force_password_reset(
    account_id: str, user_id: str, body: Annotated[ActionIn | None, Body()] = None
) -> Response[str]:
    """The user's sessions end, their next login answers password_reset_required, and the reset link is e-mailed."""
    from switchboard.logic import incident  # noqa: PLC0415

    return api.json_response(200, incident.force_password_reset(account_id, user_id, **_acting(body)))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point (the operator API)."""
    return api.handle(app, event, context)
