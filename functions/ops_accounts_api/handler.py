"""Operator API (IAM-authorized, R34): GET /ops/v1/whoami and an account's metadata without personal data."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, operators
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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point (the operator API)."""
    return api.handle(app, event, context)
