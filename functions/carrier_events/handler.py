"""Carrier webhooks: delivery receipts and inbound messages, verified by each carrier's signature before parsing."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from switchboard import api
from switchboard.carriers import plivo, registry, support, twilio
from switchboard.carriers.base import EventSource, WebhookRequest
from switchboard.models.errors import BadRequest, NotFound, Unauthorized
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


class Received(BaseModel):
    """200 of a carrier's events: how many events the body held."""

    model_config = ConfigDict(extra="forbid")

    received: int = Field(ge=0)


EVENTS_ANSWERS = api.answers(
    200,
    Received,
    "Events received (Plivo's answer URL gets its call script as XML; an inbound call, the call's instructions)",
    problems=(401, 404),
)
# Twilio's voice webhook and Plivo's answer URL of someone calling our number want call instructions back.
CALL_ANSWERS = {twilio.NAME: twilio.reject_call_xml, plivo.NAME: plivo.reject_call_xml}
EVENTS_ANSWERS[200]["content"]["application/xml"] = {"schema": {"type": "string"}}


def _source(carrier: str) -> EventSource:
    if carrier not in registry.names():
        raise NotFound("No carrier is called that.")
    adapter: Any = registry.carrier(carrier)
    if not all(hasattr(adapter, name) for name in ("verify", "parse", "handshake")):
        raise NotFound("This carrier sends no events.")
    source: EventSource = adapter
    return source


def _request(carrier: str) -> WebhookRequest:
    event = app.current_event.raw_event
    body = api.raw_body(event) or b""
    multi = event.get("multiValueQueryStringParameters") or {
        k: [v] for k, v in (event.get("queryStringParameters") or {}).items()
    }
    multi_query = {k: [v for v in vs if isinstance(v, str)] for k, vs in multi.items() if isinstance(vs, list)}
    query = {k: vs[-1] for k, vs in multi_query.items() if vs}
    url, *others = support.public_urls(f"/v1/carriers/{carrier}/events", multi_query)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    return WebhookRequest(
        method=event.get("httpMethod", ""),
        url=url,
        headers=headers,
        query=query,
        raw_body=body,
        url_spellings=tuple(others),
    )


@app.post(
    "/v1/carriers/<carrier>/events",
    summary="Carrier receipts and inbound messages",
    tags=["carriers"],
    responses=EVENTS_ANSWERS,
)
def carrier_events(carrier: str) -> Response[str]:
    """401 (nothing written) unless the carrier's signature verifies; duplicates are no-ops."""
    from switchboard.logic import inbound  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    source = _source(carrier)
    request = _request(carrier)
    if not source.verify(request):
        raise Unauthorized("The carrier signature is missing or wrong.", code="invalid_signature")
    api.check_body(app.current_event.raw_event, api.JSON_OR_FORM)
    target = plivo.answer_target(request) if carrier == plivo.NAME else None
    if target is not None:
        # Plivo fetches a call's script from its answer URL (verified above); the text never travels in a URL.
        script = inbound.voice_call(target.account_id, target.message_id)
        if script is None:
            raise NotFound("No voice message is waiting for this call.")
        body = plivo.speak_xml(script.body, record_ref=script.record_ref)
        return Response(status_code=200, content_type="application/xml", body=body)
    try:
        events = source.parse(request)
    except (ValueError, KeyError, TypeError):
        raise BadRequest("The event could not be read.", code="invalid_event") from None
    outcomes = [inbound.handle(e) for e in events]
    logger.info("carrier events", extra={"carrier": carrier, "outcomes": outcomes})
    answer_call = CALL_ANSWERS.get(carrier)
    if answer_call is not None and any(e.kind == "inbound" and e.message_type == "call" for e in events):
        # A person calling our number: the carrier waits for call instructions (kept above, for the conversation).
        return Response(status_code=200, content_type="application/xml", body=answer_call())
    return api.json_response(200, Received(received=len(events)))


@app.get(
    "/v1/carriers/<carrier>/events",
    summary="Carrier subscription handshake",
    tags=["carriers"],
    responses=api.answers(200, {"type": "string"}, "The challenge, echoed", media_type="text/plain", problems=(404,)),
)
def carrier_handshake(carrier: str) -> Response[str]:
    """WhatsApp's hub.challenge (the adapter checks the verify token)."""
    answer = _source(carrier).handshake(_request(carrier))
    if answer is None:
        raise BadRequest("Not a valid subscription handshake.", code="invalid_handshake")
    return Response(status_code=200, content_type="text/plain", body=answer)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point (public: the signature is the authentication)."""
    # The handshake echoes text; Plivo's answer URL gets XML.
    produces = {"/v1/carriers/{carrier}/events": frozenset({"text/plain", "application/xml"})}
    return api.handle(app, event, context, media_types=api.JSON_OR_FORM, signed=True, produces=produces)
