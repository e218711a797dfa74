"""Recipients, consent ledger and lists."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.recipients import (
    ConsentEntry,
    ConsentIn,
    ConsentLedger,
    ListIn,
    ListMembersAdded,
    ListMembersIn,
    ListOut,
    RecipientIn,
    RecipientOut,
    RecipientPage,
)
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/v1/recipients",
    summary="Create a recipient",
    tags=["recipients"],
    responses=api.answers(
        201,
        RecipientOut,
        "Created",
        problems={409: "recipient_exists: the number is already a recipient (`existing_id`)"},
    ),
)
def create_recipient(body: Annotated[RecipientIn, Body()]) -> Response[str]:
    """201; 409 recipient_exists with existing_id when the number is already a recipient."""
    from switchboard.logic import recipients  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    principal, _ = api.caller(app)
    return api.json_response(201, recipients.create(principal, body))


@app.get(
    "/v1/recipients",
    summary="List recipients",
    tags=["recipients"],
    responses=api.answers(200, RecipientPage, "A page of recipients, oldest first"),
)
def list_recipients(limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None) -> Response[str]:
    """Paginated, oldest first; viewers see masked numbers."""
    from switchboard.logic import recipients  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, recipients.list_page(principal, limit=limit, cursor=cursor))


@app.get(
    "/v1/recipients/<recipient_id>",
    summary="Read a recipient",
    tags=["recipients"],
    responses=api.answers(200, RecipientOut, "The recipient", problems=(404,)),
)
def read_recipient(recipient_id: str) -> Response[str]:
    """404 for ids of other accounts."""
    from switchboard.logic import recipients  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, recipients.read(principal, recipient_id))


@app.delete(
    "/v1/recipients/<recipient_id>",
    summary="Erase a recipient",
    tags=["recipients"],
    responses=api.answers(204, None, "Erased", problems=(404,)),
)
def erase_recipient(recipient_id: str) -> Response[str]:
    """204: personal data gone from every read at once, opt-outs remembered by blind index. What the request could
    not scrub before its timeout nears is finished by the erasure job; repeating the DELETE resumes it too."""
    from switchboard.logic import recipients  # noqa: PLC0415

    principal, _ = api.caller(app)
    context = app.lambda_context
    recipients.erase(principal, recipient_id, lambda: context.get_remaining_time_in_millis() / 1000)
    return api.no_content()


@app.post(
    "/v1/recipients/<recipient_id>/consents",
    summary="Record consent",
    tags=["recipients"],
    responses=api.answers(
        201,
        ConsentEntry,
        "The appended ledger entry",
        problems={
            404: "",
            409: "opted_out_by_recipient: the person opted out themselves (a keyword, a carrier's preference); only"
            " their START restores consent · consent_changed: another entry came first, read the ledger and retry",
            422: "consent_source_reserved (`/source`): a source only the platform records (keyword, carrier…) ·"
            " consent_override_requires_evidence (`/evidence…`): an opt-in over an opt-out the account recorded"
            " needs evidence {text_version, captured_at after the opt-out}",
        },
    ),
)
def record_consent(recipient_id: str, body: Annotated[ConsentIn, Body()]) -> Response[str]:
    """201 with the appended ledger entry (an evidenced override of the account's own opt-out is flagged)."""
    from switchboard.logic import consent  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(201, consent.record(principal, recipient_id, body, meta))


@app.get(
    "/v1/recipients/<recipient_id>/consents",
    summary="Consent ledger",
    tags=["recipients"],
    responses=api.answers(200, ConsentLedger, "The consent ledger, oldest first", problems=(404,)),
)
def consent_ledger(
    recipient_id: str, limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None
) -> Response[str]:
    """Oldest first."""
    from switchboard.logic import consent  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, consent.ledger(principal, recipient_id, limit=limit, cursor=cursor))


@app.post(
    "/v1/lists",
    summary="Create a list",
    tags=["lists"],
    responses=api.answers(201, ListOut, "Created"),
)
def create_list(body: Annotated[ListIn, Body()]) -> Response[str]:
    """201."""
    from switchboard.logic import lists  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(201, lists.create(principal, body))


@app.post(
    "/v1/lists/<list_id>/recipients",
    summary="Add recipients to a list",
    tags=["lists"],
    responses=api.answers(200, ListMembersAdded, "Added", problems=(404,)),
)
def add_to_list(list_id: str, body: Annotated[ListMembersIn, Body()]) -> Response[str]:
    """200 with the count added and the ids that are not recipients of this account."""
    from switchboard.logic import lists  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, lists.add(principal, list_id, body))


@app.get(
    "/v1/lists/<list_id>/recipients",
    summary="List a list's recipients",
    tags=["lists"],
    responses=api.answers(200, RecipientPage, "A page of the list's recipients", problems=(404,)),
)
def list_members(
    list_id: str, limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None
) -> Response[str]:
    """Paginated."""
    from switchboard.logic import lists  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, lists.members(principal, list_id, limit=limit, cursor=cursor))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context)
