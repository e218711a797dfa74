"""Webhook endpoints (Accounts table), their delivery log (Messaging table) and the Callbacks queue."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from switchboard import settings
from switchboard.dal import caps, clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

QUEUE_ENV = "CALLBACKS_QUEUE_URL"
SEND_BATCH = 10  # SendMessageBatch takes at most 10 entries
ENDPOINT_PREFIX = "WHE#"
CAP_KIND = "webhook_endpoints"
DELIVERY_PREFIX = "WHD#"


def endpoint_sk(endpoint_id: str) -> str:
    """The sort key of an endpoint under its account."""
    return f"{ENDPOINT_PREFIX}{endpoint_id}"


def delivery_prefix(endpoint_id: str) -> str:
    """Every delivery-log entry of one endpoint starts with this sort key (then a sortable attempt id)."""
    return f"{DELIVERY_PREFIX}{endpoint_id}#"


class EndpointItem(BaseItem):
    """pk = ACCT#<id>, sk = WHE#<endpoint_id>: where to post which events; the signing secret is sealed."""

    TABLE_ENV: ClassVar[str] = "ACCOUNTS_TABLE"

    class Meta:
        table_name = ""

    endpoint_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = UnicodeSetAttribute()
    secret_sealed = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    cap_slot = UnicodeAttribute(null=True)  # the slot it holds under the account's cap (dal.caps)


class DeliveryItem(BaseItem):
    """pk = ACCT#<id>, sk = WHD#<endpoint_id>#<attempt id>: one attempt to deliver one event (kept 30 days)."""

    TABLE_ENV: ClassVar[str] = "MESSAGING_TABLE"

    class Meta:
        table_name = ""

    endpoint_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    attempt = NumberAttribute()
    status_code = NumberAttribute(null=True)
    outcome = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute()
    at = NumberAttribute()
    next_retry_at = NumberAttribute(null=True)
    expires_at = NumberAttribute()


def list_endpoints(account_id: str) -> list[EndpointItem]:
    """Every endpoint of the account (one Query; at most caps.LIMITS[WEBHOOK_ENDPOINTS] items), oldest first."""
    return list(
        EndpointItem.query(account_pk(account_id), EndpointItem.sk.startswith(ENDPOINT_PREFIX), consistent_read=True)
    )


def get_endpoint(account_id: str, endpoint_id: str) -> EndpointItem | None:
    """One endpoint of the account, or None."""
    try:
        return EndpointItem.get(account_pk(account_id), endpoint_sk(endpoint_id), consistent_read=True)
    except DoesNotExist:
        return None


def put_endpoint(item: EndpointItem, *, cap: int) -> None:
    """Store a new endpoint (never overwriting one) in one of the account's `cap` slots (caps.CapReached)."""

    def writes(transaction: TransactWrite, slot: str) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=EndpointItem.pk.does_not_exist())

    caps.claim(item.account_id, CAP_KIND, cap, holder=item.sk, expires_at=None, writes=writes)


def delete_endpoint(item: EndpointItem) -> None:
    """Remove an endpoint and free its slot; queued jobs for it are dropped when the worker finds it gone."""

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(item)
        if with_slot:
            caps.free(transaction, item.account_id, item.cap_slot, item.sk)

    caps.freeing(build)


def put_delivery(item: DeliveryItem) -> None:
    """Append one attempt to the log."""
    item.save()


def list_deliveries(
    account_id: str, endpoint_id: str, *, limit: int, after_sk: str | None
) -> tuple[list[DeliveryItem], str | None]:
    """One page of an endpoint's log, newest first, and the sort key to continue after (None at the end)."""
    pk = account_pk(account_id)
    last_key = {"pk": {"S": pk}, "sk": {"S": after_sk}} if after_sk else None
    result = DeliveryItem.query(
        pk,
        DeliveryItem.sk.startswith(delivery_prefix(endpoint_id)),
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=last_key,
    )
    items = list(result)
    more = result.last_evaluated_key
    return items, (more["sk"]["S"] if more else None)


def _sqs() -> Any:
    return clients.client("sqs")


def _queue_url() -> str:
    try:
        return settings.get().queues[QUEUE_ENV]
    except KeyError:
        raise RuntimeError(f"{QUEUE_ENV} is not set for this function") from None


def enqueue(bodies: list[str]) -> None:
    """Send every body to the Callbacks queue, 10 per SendMessageBatch; entries SQS refused are retried once."""
    url = _queue_url()
    for start in range(0, len(bodies), SEND_BATCH):
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + SEND_BATCH])]
        for _ in range(2):
            failed = {f["Id"] for f in _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        if entries:
            raise RuntimeError(f"SQS refused {len(entries)} webhook deliveries")


def change_visibility(receipt_handle: str, seconds: int) -> None:
    """Hide a received job for `seconds` more: the next attempt happens then (SQS allows at most 12 h)."""
    _sqs().change_message_visibility(QueueUrl=_queue_url(), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)
