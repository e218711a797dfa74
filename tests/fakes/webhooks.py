"""In-memory webhook endpoints, delivery log and sealed events, and a Callbacks queue: what logic.webhooks receives.

tests/integration/webhooks/test_webhook_store_contract.py runs the same scenarios on InMemoryWebhooks and on
switchboard.dal.webhooks under moto, so a logic test on the fake proves what it would prove on DynamoDB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from switchboard.dal import cursors
from switchboard.dal.caps import CapReached
from switchboard.dal.events import StoredEvent
from switchboard.dal.webhooks import CAP_KIND, Delivery, Endpoint, PreviousSecret
from tests.fakes.identity import SealedElsewhere


class InMemoryWebhooks:
    """Endpoints (capped per account, as dal.caps caps them) and delivery logs kept in dicts.

    Sealing is a reversible tag that still binds a value to its account, item and field, so a secret or event
    opened with the wrong associated data fails here as it fails under AES-GCM.
    """

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self.deliveries: dict[tuple[str, str], list[Delivery]] = {}  # (account, target) → oldest first
        self.events: dict[str, list[StoredEvent]] = {}  # account → its event log, oldest first

    @staticmethod
    def _tag(account_id: str, place: str, field: str) -> str:
        return f"sealed:{account_id}:{place}:{field}:"

    def _open(self, account_id: str, place: str, field: str, sealed: str) -> str:
        tag = self._tag(account_id, place, field)
        if not sealed.startswith(tag):
            raise SealedElsewhere(field)
        return sealed.removeprefix(tag)

    # WebhookStore
    def new_endpoint(self, account_id: str, endpoint_id: str, *, secret: str, **fields: Any) -> Endpoint:
        sealed = self._tag(account_id, endpoint_id, "secret") + secret
        events = frozenset(fields.pop("events"))
        return Endpoint(account_id=account_id, endpoint_id=endpoint_id, events=events, secret_sealed=sealed, **fields)

    def put_endpoint(self, endpoint: Endpoint, *, cap: int) -> Endpoint:
        key = (endpoint.account_id, endpoint.endpoint_id)
        if key in self.endpoints:
            raise AssertionError(f"endpoint {endpoint.endpoint_id} stored twice")  # the dal's condition refuses it
        held = {e.cap_slot for (account, _), e in self.endpoints.items() if account == endpoint.account_id}
        free = [n for n in range(cap) if f"{CAP_KIND}#{n}" not in held]
        if not free:
            raise CapReached(CAP_KIND, cap)
        stored = dataclasses.replace(endpoint, cap_slot=f"{CAP_KIND}#{free[0]}")
        self.endpoints[key] = stored
        return stored

    def list_endpoints(self, account_id: str) -> list[Endpoint]:
        return sorted(
            (e for (account, _), e in self.endpoints.items() if account == account_id), key=lambda e: e.endpoint_id
        )

    def get_endpoint(self, account_id: str, endpoint_id: str) -> Endpoint | None:
        return self.endpoints.get((account_id, endpoint_id))

    def delete_endpoint(self, endpoint: Endpoint) -> None:
        self.endpoints.pop((endpoint.account_id, endpoint.endpoint_id), None)

    def endpoint_secret(self, endpoint: Endpoint) -> str:
        return self._open(endpoint.account_id, endpoint.endpoint_id, "secret", endpoint.secret_sealed)

    def previous_secret(self, endpoint: Endpoint, previous: PreviousSecret) -> str:
        return self._open(endpoint.account_id, endpoint.endpoint_id, "secret", previous.sealed)

    def rotate_secret(
        self, endpoint: Endpoint, *, secret: str, previous: tuple[PreviousSecret, ...]
    ) -> Endpoint | None:
        key = (endpoint.account_id, endpoint.endpoint_id)
        stored = self.endpoints.get(key)
        if stored is None or stored.secret_sealed != endpoint.secret_sealed:
            return None  # the dal's condition: only the secret that was read is replaced
        rotated = dataclasses.replace(
            stored,
            secret_sealed=self._tag(endpoint.account_id, endpoint.endpoint_id, "secret") + secret,
            secret_version=stored.secret_version + 1,
            previous_secrets=previous,
        )
        self.endpoints[key] = rotated
        return rotated

    def put_delivery(self, account_id: str, delivery: Delivery) -> None:
        self.deliveries.setdefault((account_id, delivery.endpoint_id), []).append(delivery)

    def list_deliveries(
        self, account_id: str, endpoint_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Delivery], str | None]:
        newest_first = list(reversed(self.deliveries.get((account_id, endpoint_id), [])))
        start = 0
        if cursor is not None:
            fields = cursors.decode(cursor, keys={"log", "at"})
            if fields["log"] != f"{account_id}/{endpoint_id}" or not fields["at"].isdigit():
                raise cursors.InvalidCursor("another log's cursor")
            start = int(fields["at"])
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return page, cursors.encode({"log": f"{account_id}/{endpoint_id}", "at": str(start + limit)}) if more else None

    def seal_event(self, account_id: str, event_id: str, text: str) -> str:
        return self._tag(account_id, event_id, "event") + text

    def open_event(self, account_id: str, event_id: str, sealed: str) -> str:
        return self._open(account_id, event_id, "event", sealed)

    def log_event(
        self,
        account_id: str,
        event: StoredEvent,
        *,
        expires_at: int,
        recipient_id: str | None = None,
        phone_index: str | None = None,
    ) -> None:
        self.events.setdefault(account_id, []).append(event)


@dataclasses.dataclass
class RecordingQueue:
    """The Callbacks queue as lists: the bodies sent, and each receipt's new visibility timeout."""

    sent: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (queue, body)
    hidden: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)  # (queue, receipt, seconds)

    def send_all(self, queue: str, bodies: Sequence[str]) -> None:
        self.sent.extend((queue, body) for body in bodies)

    def change_visibility(self, queue: str, receipt_handle: str, seconds: int) -> None:
        self.hidden.append((queue, receipt_handle, seconds))
