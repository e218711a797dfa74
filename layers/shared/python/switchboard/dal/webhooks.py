"""Webhook endpoints (Accounts table) and their delivery log (Messaging table)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from switchboard import catalog, ids
from switchboard.crypto import envelope
from switchboard.dal import caps, clients, events, sealed
from switchboard.dal import messaging_table as table
from switchboard.dal.base import BaseItem, record_of
from switchboard.dal.keys import account_pk

ENDPOINT_PREFIX = "WHE#"
CAP_KIND = "webhook_endpoints"
DELIVERY_PREFIX = "WHD#"
EVENT_TABLE = "Callbacks"  # where a sealed event lives, for its associated data: the queue, not a table
EVENT_FIELD = "event"


def endpoint_sk(endpoint_id: str) -> str:
    """The sort key of an endpoint under its account."""
    return f"{ENDPOINT_PREFIX}{endpoint_id}"


def delivery_prefix(endpoint_id: str) -> str:
    """Every delivery-log entry of one endpoint starts with this sort key (then a sortable attempt id)."""
    return f"{DELIVERY_PREFIX}{endpoint_id}#"


class PreviousSecretAttribute(MapAttribute[str, Any]):
    """A signing secret replaced by a rotation, still signing deliveries until `expires_at` (R42's overlap)."""

    sealed = UnicodeAttribute()  # sealed at the endpoint's `secret` field, as the current one
    version = NumberAttribute()
    expires_at = NumberAttribute()


class EndpointItem(BaseItem):
    """pk = ACCT#<id>, sk = WHE#<endpoint_id>: where to post which events; the signing secret is sealed."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

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
    secret_version = NumberAttribute(null=True)  # absent: 1 (endpoints created before rotation existed)
    previous_secrets = ListAttribute[PreviousSecretAttribute](of=PreviousSecretAttribute, null=True)


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event (kept 30 days): the delivery log's item schema, declared once.

    Stored on the raw-item Messaging table as pk = ACCT#<id>, sk = WHD#<target>#<attempt id>, where the target
    is an endpoint id, or a message id for a message's own callback_url.
    """

    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    outcome: str
    duration_ms: int
    at: int  # epoch seconds, like every time stored on this item
    expires_at: int
    status_code: int | None = None
    error: str | None = None
    next_retry_at: int | None = None

    def to_item(self, account_id: str, attempt_id: str) -> dict[str, Any]:
        """The stored item (None fields left out)."""
        return {"pk": account_pk(account_id), "sk": delivery_prefix(self.endpoint_id) + attempt_id, **asdict(self)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Delivery:
        """A stored item as a record (items the PynamoDB model wrote read the same)."""

        def number(name: str) -> int | None:
            value = item.get(name)
            return None if value is None else int(value)

        return cls(
            endpoint_id=str(item["endpoint_id"]),
            event_id=str(item["event_id"]),
            event_type=str(item["event_type"]),
            attempt=int(item["attempt"]),
            outcome=str(item["outcome"]),
            duration_ms=int(item["duration_ms"]),
            at=int(item["at"]),
            expires_at=int(item["expires_at"]),
            status_code=number("status_code"),
            error=item.get("error"),
            next_retry_at=number("next_retry_at"),
        )


@dataclass(frozen=True)
class PreviousSecret:
    """A secret a rotation replaced: still sealed, its version, when it stops signing (epoch seconds)."""

    sealed: str
    version: int
    expires_at: int


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint as logic sees it: where to post which events; the signing secret stays sealed."""

    account_id: str
    endpoint_id: str
    url: str
    events: frozenset[str]
    secret_sealed: str
    created_by: str
    created_at: int  # epoch seconds
    cap_slot: str | None = None  # the slot it holds under the account's cap (dal.caps), once stored
    secret_version: int = 1
    previous_secrets: tuple[PreviousSecret, ...] = ()  # newest first; each signs until its expires_at

    def live_previous(self, now: int) -> tuple[PreviousSecret, ...]:
        """The replaced secrets whose overlap has not ended at `now` (epoch seconds)."""
        return tuple(p for p in self.previous_secrets if p.expires_at > now)


def _item(endpoint: Endpoint) -> EndpointItem:
    return EndpointItem(
        account_pk(endpoint.account_id),
        endpoint_sk(endpoint.endpoint_id),
        endpoint_id=endpoint.endpoint_id,
        account_id=endpoint.account_id,
        url=endpoint.url,
        events=set(endpoint.events),
        secret_sealed=endpoint.secret_sealed,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
        cap_slot=endpoint.cap_slot,
        secret_version=endpoint.secret_version,
        previous_secrets=[_previous_item(p) for p in endpoint.previous_secrets] or None,
    )


def _previous_item(previous: PreviousSecret) -> PreviousSecretAttribute:
    return PreviousSecretAttribute(sealed=previous.sealed, version=previous.version, expires_at=previous.expires_at)  # type: ignore[no-untyped-call]


def _record(item: EndpointItem) -> Endpoint:
    previous = tuple(
        PreviousSecret(sealed=p.sealed, version=int(p.version), expires_at=int(p.expires_at))
        for p in item.previous_secrets or []
    )
    return record_of(
        Endpoint,
        item,
        events=frozenset(item.events),
        secret_version=int(item.secret_version or 1),
        previous_secrets=previous,
    )


def _secret_place(account_id: str, endpoint_id: str) -> dict[str, str]:
    # The endpoint's own key is the associated data: a secret copied onto another endpoint does not open.
    return sealed.binding(EndpointItem.TABLE_ENV, account_pk(account_id), endpoint_sk(endpoint_id), "secret")


def new_endpoint(
    account_id: str, endpoint_id: str, *, url: str, events: set[str], secret: str, created_by: str, created_at: int
) -> Endpoint:
    """A new endpoint (not stored yet), its signing secret sealed where it will live."""
    return Endpoint(
        account_id=account_id,
        endpoint_id=endpoint_id,
        url=url,
        events=frozenset(events),
        secret_sealed=envelope.seal(account_id, secret, **_secret_place(account_id, endpoint_id)),
        created_by=created_by,
        created_at=created_at,
    )


def endpoint_secret(endpoint: Endpoint) -> str:
    """The endpoint's signing secret, opened."""
    return envelope.open_sealed(
        endpoint.account_id, endpoint.secret_sealed, **_secret_place(endpoint.account_id, endpoint.endpoint_id)
    )


def previous_secret(endpoint: Endpoint, previous: PreviousSecret) -> str:
    """A replaced signing secret of the endpoint, opened (it was sealed at the same place as the current one)."""
    return envelope.open_sealed(
        endpoint.account_id, previous.sealed, **_secret_place(endpoint.account_id, endpoint.endpoint_id)
    )


def rotate_secret(endpoint: Endpoint, *, secret: str, previous: tuple[PreviousSecret, ...]) -> Endpoint | None:
    """Make `secret` the endpoint's signing secret (the next version), keeping `previous` as its replaced ones.

    Only while the stored secret is still the one `endpoint` was read with: two rotations at once cannot both
    return a secret (the loser would hand out one that never signs). None when it changed meanwhile or is gone.
    """
    sealed_secret = envelope.seal(
        endpoint.account_id, secret, **_secret_place(endpoint.account_id, endpoint.endpoint_id)
    )
    version = endpoint.secret_version + 1
    key = EndpointItem(account_pk(endpoint.account_id), endpoint_sk(endpoint.endpoint_id))
    kept = [_previous_item(p) for p in previous]
    try:
        key.update(
            actions=[
                EndpointItem.secret_sealed.set(sealed_secret),
                EndpointItem.secret_version.set(version),
                EndpointItem.previous_secrets.set(kept) if kept else EndpointItem.previous_secrets.remove(),
            ],
            condition=EndpointItem.secret_sealed == endpoint.secret_sealed,
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return None
        raise
    return dataclasses.replace(endpoint, secret_sealed=sealed_secret, secret_version=version, previous_secrets=previous)


def list_endpoints(account_id: str) -> list[Endpoint]:
    """Every endpoint of the account (one Query; at most caps.LIMITS[WEBHOOK_ENDPOINTS] items), oldest first."""
    return [
        _record(item)
        for item in EndpointItem.query(
            account_pk(account_id), EndpointItem.sk.startswith(ENDPOINT_PREFIX), consistent_read=True
        )
    ]


def get_endpoint(account_id: str, endpoint_id: str) -> Endpoint | None:
    """One endpoint of the account, or None."""
    try:
        return _record(EndpointItem.get(account_pk(account_id), endpoint_sk(endpoint_id), consistent_read=True))
    except DoesNotExist:
        return None


def put_endpoint(endpoint: Endpoint, *, cap: int) -> Endpoint:
    """Store a new endpoint (never overwriting one) in one of the account's `cap` slots (caps.CapReached); the
    stored endpoint, holding its slot."""
    item = _item(endpoint)

    def writes(transaction: TransactWrite, slot: str) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=EndpointItem.pk.does_not_exist())

    caps.claim(endpoint.account_id, CAP_KIND, cap, holder=item.sk, expires_at=None, writes=writes)
    return _record(item)


def delete_endpoint(endpoint: Endpoint) -> None:
    """Remove an endpoint and free its slot; queued jobs for it are dropped when the worker finds it gone."""
    item = _item(endpoint)

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(item)
        if with_slot:
            caps.free(transaction, endpoint.account_id, endpoint.cap_slot, item.sk)

    caps.freeing(build)


def put_delivery(account_id: str, delivery: Delivery) -> None:
    """Append one attempt to the log."""
    table.put(delivery.to_item(account_id, ids.new_id("wha")))


def list_deliveries(
    account_id: str, endpoint_id: str, *, limit: int, cursor: str | None = None
) -> tuple[list[Delivery], str | None]:
    """One page of an endpoint's (or a message's callback) log, newest first, and the next page's cursor.

    A cursor another endpoint's (or another account's) page issued is refused: cursors.InvalidCursor.
    """
    items, more = table.query_page(
        pk_value=account_pk(account_id),
        prefix=delivery_prefix(endpoint_id),
        limit=limit,
        cursor=cursor,
        forward=False,
    )
    return [Delivery.from_item(i) for i in items], more


def _event_place(event_id: str) -> dict[str, str]:
    return {"table": EVENT_TABLE, "item_key": f"EVT#{event_id}", "field": EVENT_FIELD}


def seal_event(account_id: str, event_id: str, text: str) -> str:
    """An event's JSON sealed for the Callbacks queue (the queue holds ids and ciphertext only)."""
    return envelope.seal(account_id, text, **_event_place(event_id))


def open_event(account_id: str, event_id: str, sealed: str) -> str:
    """A queued event's JSON, opened with the account's key."""
    return envelope.open_sealed(account_id, sealed, **_event_place(event_id))


def log_event(
    account_id: str,
    event: events.StoredEvent,
    *,
    expires_at: int,
    recipient_id: str | None = None,
    phone_index: str | None = None,
) -> None:
    """Keep a sealed event in the account's event log (dal.events), the same ciphertext the queue carries."""
    events.put(account_id, event, expires_at=expires_at, recipient_id=recipient_id, phone_index=phone_index)
