"""POST /v1/billing/events: the payment provider's signed notices (subscription plan changes only)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.billing import BillingAnswer
from switchboard.models.errors import BadRequest, Unauthorized
from switchboard.models.request import RequestMeta
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/v1/billing/events",
    summary="Payment provider events",
    tags=["billing"],
    responses=api.answers(200, BillingAnswer, "Applied, duplicate or ignored", problems=(401, 409)),
)
def billing_event() -> Response[str]:
    """200 applied | duplicate | ignored; 401 when the Stripe-Signature does not verify (nothing recorded)."""
    from switchboard.logic import billing  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    event = app.current_event
    raw = api.raw_body(event.raw_event) or b""
    signature = event.headers.get("Stripe-Signature")
    # The signature covers the exact bytes sent, so the body is verified raw, before any parsing; the provider
    # signs UTF-8 only, so bytes that are not cannot carry its signature.
    body = raw.decode("utf-8", errors="replace")
    billing.verify_signature(body, signature)
    if body.encode() != raw:
        raise Unauthorized("The signature does not match this body.", code="invalid_signature")
    try:
        api.check_body(event.raw_event)
    except BadRequest:
        # The provider's notices answer one code for any body that cannot be read (API.md's billing contract).
        raise BadRequest("The body is not a payment provider event.", code="invalid_event") from None
    answer = billing.receive(body, signature, RequestMeta.from_event(event.raw_event))
    return api.json_response(200, answer)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context, signed=True)
