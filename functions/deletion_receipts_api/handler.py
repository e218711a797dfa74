"""R61: GET /v1/deletion-receipts/{account_id} (a purged account's signed receipt) and the keys that verify it."""

import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.deletion_receipts import ReceiptKeys, SignedReceipt
from switchboard.models.errors import NotFound
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()
# switchboard.ids: `acct_` and 26 Crockford base32 characters; anything else is as unknown as an unknown id.
ACCOUNT_ID = re.compile(r"acct_[0-9a-z]{26}")


@app.get(
    "/.well-known/deletion-receipt-keys",
    summary="The public keys that verify deletion receipts",
    tags=["public"],
    responses=api.answers(200, ReceiptKeys, "The verification keys (JWK set, each key also as PEM)"),
)
@tracer.capture_method
def get_keys() -> ReceiptKeys:
    """The keys that verify deletion receipts."""
    from switchboard.crypto import receipt_signing  # noqa: PLC0415 - botocore loads with the first request

    return ReceiptKeys.model_validate(receipt_signing.published_keys())


@app.get(
    "/v1/deletion-receipts/<account_id>",
    summary="A purged account's signed deletion receipt",
    tags=["public"],
    responses=api.answers(200, SignedReceipt, "The signed receipt", problems={404: "No purged account has this id"}),
)
@tracer.capture_method
def get_receipt(account_id: str) -> SignedReceipt:
    """The signed receipt of a completely purged account (404 before, and for any other id)."""
    from switchboard.dal import deletion_receipts  # noqa: PLC0415

    signed = deletion_receipts.signed(account_id) if ACCOUNT_ID.fullmatch(account_id) else None
    if signed is None:
        raise NotFound("No purged account has this id.")
    return SignedReceipt.model_validate(signed)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)
