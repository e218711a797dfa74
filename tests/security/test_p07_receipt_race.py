"""Finding 7: a carrier receipt that outruns the send worker's carrier-id mapping is never lost, and a message whose
receipt never comes is reconciled with the carrier's status API (or marked receipt_missing), never left in limbo."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from functions.receipts_job import handler as receipts_job
from functions.recipients_api import handler as recipients_api
from local.scheduler import scheduled_event
from switchboard import catalog, clock, settings
from switchboard.carriers import sandbox, support
from switchboard.crypto import envelope
from switchboard.dal import messages as messages_dal
from switchboard.dal import messaging_table
from switchboard.dal.keys import account_pk
from switchboard.dal.messages import Message
from switchboard.logic import receipts
from tests.integration.conftest import Context
from tests.integration.live.conftest import (
    SENDERS,
    TWILIO,
    Carriers,
    carriers,  # noqa: F401 - a fixture
    dev,  # noqa: F401 - a fixture
    events_url,
    log,
    run_send_worker,
    to_gateway,
)
from tests.integration.live.conftest import send as live_send
from tests.integration.live.fakes import CarrierRequest
from tests.integration.messaging.conftest import Account, Queues, make_account, opted_in
from tests.integration.messaging.test_messages import PHONE, post_event, send, work
from tests.integration.moto_atomic import serialized_moto
from tests.security import local_stack


def status_of(account: Account, message_id: str) -> Message:
    """The stored message (status, events, error)."""
    item = messages_dal.get(account.account_id, message_id)
    assert item is not None
    return item


def statuses(item: Message) -> list[str]:
    return [e.status for e in item.events]


def on_index(item: Message) -> bool:
    """Whether the message is on the reconciliation index now (its stored gsi2 keys)."""
    raw = messaging_table.get(account_pk(item.account_id), messages_dal.message_sk(item.message_id)) or {}
    return str(raw.get("gsi2pk", "")).startswith(messages_dal.SENT_PARTITION)


def as_carrier(action: Callable[[], object]) -> None:
    """Run `action` on a thread of its own, as another process (the carrier calling our API) would: outside the
    send worker's function scope, whose settings are not the carrier events function's."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # re-raised in the test's thread below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if errors:
        raise errors[0]


@pytest.fixture
def before_mapping(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[str, str], None]]]:
    """Hooks run by the send worker after the carrier accepted and just before it writes the carrier-id mapping:
    what a carrier calling back within milliseconds does."""
    hooks: list[Callable[[str, str], None]] = []
    original = messages_dal.map_carrier_id

    def hooked(carrier: str, carrier_message_id: str, account_id: str, message_id: str) -> None:
        for hook in hooks:
            hook(carrier, carrier_message_id)
        original(carrier, carrier_message_id, account_id, message_id)

    monkeypatch.setattr(messages_dal, "map_carrier_id", hooked)
    yield hooks


def run_receipts_job() -> dict[str, Any]:
    result: dict[str, Any] = receipts_job.lambda_handler(scheduled_event(catalog.RECEIPTS), Context())
    return result


def due_for_reconciliation() -> None:
    clock.advance(settings.get().receipt_check_after_s + 1)


# --- sandbox carriers (the local stack's): every interleaving of a receipt and the mapping -------------------------


def _post_owed(strip_ref: bool, statuses_: tuple[str, ...] = ("delivered",)) -> list[str]:
    """Post the sandbox's owed callbacks now (with or without our ref), one per status; each answer's outcome."""
    outcomes = []
    for owed in sandbox.take_callbacks():
        for n, status in enumerate(statuses_):
            event = {**owed, "id": f"{owed['id']}_{n}", "status": status}
            if strip_ref:
                event.pop("ref", None)
            answer = post_event(owed["carrier"], event)
            assert answer.status == 200, answer.body  # never refused, never unknown_message: the carrier stops
            outcomes.append(event["status"])
    return outcomes


@pytest.mark.parametrize("strip_ref", [False, True], ids=["ref_carried", "no_ref_kept_early"])
def test_sandbox_receipt_posted_before_the_mapping_ends_delivered(
    account: Account, queues: Queues, before_mapping: list[Callable[[str, str], None]], strip_ref: bool
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    before_mapping.append(lambda *_: as_carrier(lambda: _post_owed(strip_ref)))
    assert work(queues) == {"records": 1, "batchItemFailures": []}
    item = status_of(account, message_id)
    assert item.status == "delivered"
    # With the ref the receipt lands at once (through `sent`: it proves the acceptance); kept early, the worker
    # applies it right after its own `sent`.
    assert statuses(item) == ["queued", "sending", "sent", "delivered"]
    assert not on_index(item)  # nothing left for reconciliation
    assert item.carrier == "sandbox-a"


@pytest.mark.parametrize("strip_ref", [False, True], ids=["ref_carried", "no_ref_kept_early"])
def test_sandbox_receipts_racing_the_worker_on_threads_all_end_delivered(
    account: Account, queues: Queues, before_mapping: list[Callable[[str, str], None]], strip_ref: bool
) -> None:
    """A carrier thread posts each callback as soon as the carrier accepted, while the worker's threads go on:
    every other worker writes its mapping once the callback is in flight (the two race, DynamoDB applying one
    request at a time), the others only once it was answered (the receipt strictly first)."""
    rid = opted_in(account, recipients_api, PHONE)
    ids = [send(account, recipient_id=rid).body["id"] for _ in range(6)]
    started: dict[str, threading.Event] = {}
    answered: dict[str, threading.Event] = {}
    lock, turns = threading.Lock(), iter(range(100))
    done = threading.Event()

    def events(carrier_id: str) -> tuple[threading.Event, threading.Event]:
        with lock:
            return started.setdefault(carrier_id, threading.Event()), answered.setdefault(carrier_id, threading.Event())

    def worker_waits(_: str, carrier_id: str) -> None:
        began, ended = events(carrier_id)
        with lock:
            strictly_first = next(turns) % 2 == 0
        assert (ended if strictly_first else began).wait(timeout=20)

    def carrier() -> None:
        while not done.is_set():
            for owed in sandbox.take_callbacks():
                began, ended = events(owed["carrier_message_id"])
                began.set()
                event = {k: v for k, v in owed.items() if not (strip_ref and k == "ref")}
                assert post_event(owed["carrier"], event).status == 200
                ended.set()
            time.sleep(0.001)

    before_mapping.append(worker_waits)
    with serialized_moto():
        poster = threading.Thread(target=carrier)
        poster.start()
        try:
            assert work(queues)["batchItemFailures"] == []
        finally:
            done.set()
            poster.join(timeout=30)
    assert len(answered) == len(ids)
    assert all(event.is_set() for event in answered.values())
    assert {status_of(account, m).status for m in ids} == {"delivered"}


# (what the carrier posted, in that order; the final status; what was applied: (ref carried, kept early))
RECEIPT_ORDERS: list[tuple[tuple[str, ...], str, tuple[list[str], list[str]]]] = [
    (("delivered", "delivered"), "delivered", (["delivered"], ["delivered"])),  # a duplicate, applied once
    # Out of order: with the ref `read` lands first and `delivered` is stale; kept early, the worker applies them
    # in lifecycle order. Either way the status never moves backwards.
    (("read", "delivered"), "read", (["read"], ["delivered", "read"])),
    (("delivered", "read", "read"), "read", (["delivered", "read"], ["delivered", "read"])),
    (("undelivered", "delivered"), "undelivered", (["undelivered"], ["undelivered"])),  # final: nothing after it
    (("sent", "failed"), "failed", (["failed"], ["failed"])),
]


@pytest.mark.parametrize("strip_ref", [False, True], ids=["ref_carried", "no_ref_kept_early"])
def test_early_receipts_are_idempotent_and_never_move_backwards(
    account: Account, queues: Queues, before_mapping: list[Callable[[str, str], None]], strip_ref: bool
) -> None:
    """Each order of RECEIPT_ORDERS on its own message of one batch, every receipt posted before the mapping."""
    rid = opted_in(account, recipients_api, PHONE)
    cases = {send(account, recipient_id=rid).body["id"]: case for case in RECEIPT_ORDERS}

    owed_by_id: dict[str, dict[str, str]] = {}
    lock = threading.Lock()

    def post_owed(carrier_id: str) -> None:
        with lock:  # this message's callback only: the others' workers post theirs before their own mappings
            owed_by_id.update((owed["carrier_message_id"], owed) for owed in sandbox.take_callbacks())
            owed = owed_by_id.pop(carrier_id)
        reported = cases[owed["ref"].split(".")[1]][0]  # which message this is (our ref names it)
        for n, status in enumerate(reported):
            event = {**owed, "id": f"{owed['id']}_{n}", "status": status}
            if strip_ref:
                del event["ref"]
            assert post_event(owed["carrier"], event).status == 200

    before_mapping.append(lambda _, carrier_id: as_carrier(lambda: post_owed(carrier_id)))
    assert work(queues)["batchItemFailures"] == []
    for message_id, (reported, final, applied) in cases.items():
        item = status_of(account, message_id)
        assert item.status == final, reported
        after_sending = statuses(item)[statuses(item).index("sending") + 1 :]
        assert [s for s in after_sending if s != "sent"] == applied[strip_ref], reported
        assert statuses(item).count("sent") <= 1
        assert not on_index(item)


def _mac_with(account_id: str, message_id: str) -> str:
    """A ref MAC made with `account_id`'s key, as receipts.callback_ref makes it."""
    return envelope.blind_index(account_id, message_id, purpose="receipt-ref")[: receipts.REF_MAC_HEX]


def _forged_refs(owner: Account, other: Account, other_message: str, own_message: str) -> dict[str, str]:
    mac_with = _mac_with
    return {
        # another tenant's message id with a MAC made under the attacker's own key
        "other_tenant_own_key": f"{other.account_id}.{other_message}.{mac_with(owner.account_id, other_message)}",
        # another tenant's message id with a made-up MAC
        "other_tenant_zero_mac": f"{other.account_id}.{other_message}.{'0' * 32}",
        # the attacker's own account named with the other's message
        "own_account_other_message": f"{owner.account_id}.{other_message}.{mac_with(owner.account_id, other_message)}",
        # a valid ref of the attacker's own message, replayed with the other's carrier id below
        "own_valid_ref": receipts.callback_ref(owner.account_id, own_message),
    }


def test_forged_message_ref_cannot_change_another_tenants_message(account: Account, queues: Queues) -> None:
    """Every forged ref (_forged_refs), with an unmapped carrier id and with the victim's own carrier id."""
    victim = make_account()
    sandbox.set_receipts("sandbox-a", on=False)
    victim_message = send(victim, recipient_id=opted_in(victim, recipients_api, PHONE)).body["id"]
    own_message = send(account, recipient_id=opted_in(account, recipients_api, "+14155552672")).body["id"]
    work(queues)
    victim_before = status_of(victim, victim_message)
    own_before = status_of(account, own_message)
    assert (victim_before.status, own_before.status) == ("sent", "sent")
    forged = _forged_refs(account, victim, victim_message, own_message)
    carrier_ids = {"unmapped": "sbx_forged0000000000000000000", "victims": victim_before.carrier_message_id}
    for (variant, ref), (which, cid) in itertools.product(forged.items(), carrier_ids.items()):
        for n, status in enumerate(("failed", "delivered")):
            event = {
                "type": "message.status",
                "id": f"sbxevt_forged_{variant}_{which}_{n}",
                "carrier": "sandbox-a",
                "carrier_message_id": cid,
                "status": status,
                "at": clock.rfc3339(clock.now()),
                "ref": ref,
            }
            assert post_event("sandbox-a", event).status == 200  # the carrier's signature is valid: no retry storm
        victim_after, own_after = status_of(victim, victim_message), status_of(account, own_message)
        assert (victim_after.status, victim_after.events) == ("sent", victim_before.events), (variant, which)
        # A ref is bound to its carrier id: even the attacker's own message does not take another's receipt.
        assert (own_after.status, own_after.events) == ("sent", own_before.events), (variant, which)


def test_an_expired_early_receipt_is_not_applied_and_reconciliation_settles_the_message(
    account: Account, queues: Queues, before_mapping: list[Callable[[str, str], None]]
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]

    def late_worker(*_: str) -> None:
        as_carrier(lambda: _post_owed(strip_ref=True, statuses_=("failed",)))
        clock.advance(settings.get().early_receipt_ttl_s + 1)  # the worker wrote the mapping after it expired

    before_mapping.append(late_worker)
    work(queues)
    item = status_of(account, message_id)
    assert (item.status, on_index(item)) == ("sent", True)  # the stale `failed` was not applied
    due_for_reconciliation()
    assert run_receipts_job()["updated"] == 1  # the sandbox's status API: delivered
    assert status_of(account, message_id).status == "delivered"


# --- reconciliation with the sandbox's status API ---------------------------------------------------------------


# What the sandbox's status API says -> the message's status and error code after the receipts job.
CARRIER_SAYS: list[tuple[str | None, str, str | None]] = [
    ("delivered", "delivered", None),
    ("failed", "failed", None),
    ("undelivered", "undelivered", None),
    (None, "sent", "receipt_missing"),  # the carrier no longer knows it: never backwards, marked
]


def test_reconciliation_applies_the_carriers_status_or_marks_the_receipt_missing(
    account: Account, queues: Queues
) -> None:
    sandbox.set_receipts("sandbox-a", on=False)
    rid = opted_in(account, recipients_api, PHONE)
    cases = {send(account, recipient_id=rid).body["id"]: case for case in CARRIER_SAYS}
    work(queues)
    for message_id, (carrier_says, _, _) in cases.items():
        item = status_of(account, message_id)
        assert (item.status, on_index(item)) == ("sent", True)
        sandbox.set_status(item.carrier_message_id, carrier_says)
    assert run_receipts_job()["checked"] == 0  # not due yet
    due_for_reconciliation()
    report = run_receipts_job()
    assert (report["checked"], report["updated"], report["receipt_missing"]) == (4, 3, 1)
    for message_id, (_, status, error_code) in cases.items():
        after = status_of(account, message_id)
        assert after.status == status
        assert (after.error or {}).get("code") == error_code
        assert not on_index(after)
        assert statuses(after)[: statuses(after).index("sent") + 1] == ["queued", "sending", "sent"]
    assert run_receipts_job()["checked"] == 0  # idempotent: nothing left to check
    # A receipt that comes after all still delivers, and clears the mark.
    [missing] = [m for m, case in cases.items() if case[0] is None]
    event = {
        "type": "message.status",
        "id": "sbxevt_late",
        "carrier": "sandbox-a",
        "carrier_message_id": status_of(account, missing).carrier_message_id,
        "status": "delivered",
        "at": clock.rfc3339(clock.now()),
    }
    assert post_event("sandbox-a", event).status == 200
    late = status_of(account, missing)
    assert (late.status, late.error) == ("delivered", None)


def test_reconciliation_retries_a_status_api_that_is_down_and_rechecks_messages_in_flight(
    account: Account, queues: Queues
) -> None:
    sandbox.set_receipts("sandbox-a", on=False)
    rid = opted_in(account, recipients_api, PHONE)
    down, in_flight = (send(account, recipient_id=rid).body["id"] for _ in range(2))
    work(queues)
    sandbox.set_status(status_of(account, in_flight).carrier_message_id, "sent")
    due_for_reconciliation()
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    report = run_receipts_job()  # never raises: EventBridge would retry the whole run
    assert (report["checked"], report["retry"]) == (2, 2)
    assert {status_of(account, m).status for m in (down, in_flight)} == {"sent"}
    sandbox.set_state("sandbox-a", sandbox.State.UP)
    report = run_receipts_job()
    assert (report["updated"], report["in_flight"]) == (1, 1)
    assert status_of(account, down).status == "delivered"
    assert (status_of(account, in_flight).status, on_index(status_of(account, in_flight))) == ("sent", True)
    assert run_receipts_job()["checked"] == 0  # rechecked a period later, not every run
    clock.advance(settings.get().receipt_give_up_s)
    assert run_receipts_job()["receipt_missing"] == 1
    marked = status_of(account, in_flight)
    assert (marked.status, (marked.error or {}).get("code"), on_index(marked)) == ("sent", "receipt_missing", False)


# --- the real carriers' wire formats (STAGE=dev, fake Twilio / Plivo / WhatsApp on loopback) -----------------------


def _window(fakes: Carriers) -> None:
    """The recipient wrote on WhatsApp: free-form text may be sent for 24 h."""
    hello = fakes.whatsapp.inbound(
        events_url("whatsapp"), from_=PHONE, to=SENDERS["whatsapp"], body="Hi", timestamp=int(clock.timestamp())
    )
    assert to_gateway(hello).status == 200


def _live_message(live: Account, fakes: Carriers, kind: str) -> tuple[str, str]:
    """(message id, send queue) of a message that goes out through `kind`."""
    if kind == "whatsapp":
        opted_in(live, recipients_api, PHONE, ("whatsapp",))
        _window(fakes)
        return live_send(live, "whatsapp"), "WhatsappSend"
    opted_in(live, recipients_api, PHONE)
    if kind == "plivo":
        fakes.twilio.outage = 503  # Twilio is down: the route fails over to Plivo
    return live_send(live, "sms"), "SmsSend"


def _callback(fakes: Carriers, kind: str, carrier_id: str, status: str) -> CarrierRequest:
    if kind == "twilio":
        return fakes.twilio.status_callback(carrier_id, status)
    if kind == "plivo":
        return fakes.plivo.status_callback(carrier_id, status)
    return fakes.whatsapp.status_callback(events_url("whatsapp"), carrier_id, status, int(clock.timestamp()))


def _without_ref(fakes: Carriers, kind: str, carrier_id: str) -> None:
    """Make the carrier call back as if it had been given the bare events URL (no ref to echo)."""
    fake: Any = getattr(fakes, kind)
    sent = fake.sent[carrier_id]
    fields = {k: v for k, v in sent.fields.items() if k != "biz_opaque_callback_data"}
    fake.sent[carrier_id] = type(sent)(sent.carrier_id, sent.to, sent.from_, sent.text, events_url(kind), fields)


@pytest.fixture
def live(carriers: Carriers) -> Account:  # noqa: F811 - the fixture imported above
    return make_account(numbers=SENDERS, carriers={"sms": "twilio", "voice": "twilio", "whatsapp": "whatsapp"})


@pytest.mark.parametrize("carried", [True, False], ids=["ref_carried", "no_ref_kept_early"])
@pytest.mark.parametrize("kind", ["twilio", "plivo", "whatsapp"])
def test_real_carrier_receipt_before_the_mapping_ends_delivered(
    live: Account,
    dev: Queues,  # noqa: F811 - a fixture
    carriers: Carriers,  # noqa: F811 - a fixture
    before_mapping: list[Callable[[str, str], None]],
    *,
    kind: str,
    carried: bool,
) -> None:
    message_id, queue = _live_message(live, carriers, kind)
    answers: list[int] = []

    def call_back(carrier: str, carrier_id: str) -> None:
        assert carrier == kind
        if not carried:
            _without_ref(carriers, kind, carrier_id)
        for status in ("sent", "delivered", "delivered"):  # the duplicate is a carrier's retry
            request = _callback(carriers, kind, carrier_id, status)
            if kind == "twilio":
                # What Twilio signed is the URL with our ref in its query: its own validator accepts it.
                params = dict(parse_qsl(request.body.decode()))
                signature = request.headers["X-Twilio-Signature"]
                assert RequestValidator(TWILIO["auth_token"]).validate(request.url, params, signature)
                assert (support.REF_PARAM in urlsplit(request.url).query) is carried
            answers.append(to_gateway(request).status)

    before_mapping.append(lambda carrier, carrier_id: as_carrier(lambda: call_back(carrier, carrier_id)))
    assert run_send_worker(dev, queue)["batchItemFailures"] == []
    assert answers == [200, 200, 200]
    entry = log(live, message_id)
    assert entry["status"] == "delivered"
    assert [e["status"] for e in entry["events"]][-2:] == ["sent", "delivered"]
    assert not on_index(status_of(live, message_id))


@pytest.mark.parametrize("kind", ["twilio", "plivo"])
def test_a_forged_ref_in_a_signed_callback_url_is_refused(
    live: Account,
    dev: Queues,  # noqa: F811 - a fixture
    carriers: Carriers,  # noqa: F811 - a fixture
    kind: str,
) -> None:
    """The URL is signed: swapping the ref for another message's breaks the carrier's signature (401)."""
    victim, queue = _live_message(live, carriers, kind)
    mine = live_send(live, "sms")
    # Both go out (a send that timed out under load comes back, as SQS redelivers it).
    assert run_send_worker(dev, queue, redeliveries=2)["batchItemFailures"] == []
    by_message = _by_message(carriers, kind)
    request = _callback(carriers, kind, by_message[victim], "failed")
    query = f"{support.REF_PARAM}={receipts.callback_ref(live.account_id, mine)}"
    swapped = CarrierRequest(request.url.split("?")[0] + "?" + query, request.headers, request.body)
    assert to_gateway(swapped).status == 401
    assert {log(live, m)["status"] for m in (victim, mine)} == {"sent"}


def _by_message(fakes: Carriers, kind: str) -> dict[str, str]:
    """Our message id -> the carrier's id, from the ref in each accepted message's callback URL."""
    fake: Any = getattr(fakes, kind)
    found = {}
    for sent in fake.accepted():
        ref = dict(parse_qsl(urlsplit(sent.callback).query))[support.REF_PARAM]
        found[ref.split(".")[1]] = sent.carrier_id
    return found


def _reconcile_live(fakes: Carriers, kind: str, ids: list[str], says: list[tuple[str, str] | None]) -> None:
    """What the carrier's status API will answer for each message (None: 404, it does not know it)."""
    fake: Any = getattr(fakes, kind)
    by_message = _by_message(fakes, kind)
    for message_id, answer in zip(ids, says, strict=True):
        if answer is None:
            del fake.sent[by_message[message_id]]
        else:
            fake.statuses[by_message[message_id]] = answer


@pytest.mark.parametrize("kind", ["twilio", "plivo"])
def test_real_carrier_status_apis_settle_messages_left_sent(
    live: Account,
    dev: Queues,  # noqa: F811 - a fixture
    carriers: Carriers,  # noqa: F811 - a fixture
    kind: str,
) -> None:
    opted_in(live, recipients_api, PHONE)
    if kind == "plivo":
        carriers.twilio.outage = 503
    ids = [live_send(live, "sms") for _ in range(4)]
    # A loaded machine may spend the 2 s failover budget on Twilio's 503: SQS then brings the record back.
    assert run_send_worker(dev, "SmsSend", redeliveries=3)["batchItemFailures"] == []
    assert {log(live, m)["status"] for m in ids} == {"sent"}  # no callback ever came
    failed_code = "30003" if kind == "twilio" else "200"
    _reconcile_live(carriers, kind, ids, [("delivered", ""), ("failed", failed_code), None, ("sent", "")])
    due_for_reconciliation()
    fake: Any = getattr(carriers, kind)
    fake.outage = 503  # the status API is down: nothing changes, nothing raises
    assert run_receipts_job()["retry"] == 4
    fake.outage = None
    if kind == "plivo":
        carriers.twilio.outage = None
    report = run_receipts_job()
    assert (report["updated"], report["receipt_missing"], report["in_flight"]) == (2, 1, 1)
    entries = [log(live, m) for m in ids]
    assert [e["status"] for e in entries] == ["delivered", "failed", "sent", "sent"]
    assert entries[1]["error"]["code"] == failed_code
    assert entries[2]["error"]["code"] == "receipt_missing"
    assert "error" not in entries[3] or entries[3]["error"] is None
    assert fake.problems == []  # every status request was the one the provider's SDK makes


def test_whatsapp_has_no_status_api_so_a_missing_receipt_is_marked(
    live: Account,
    dev: Queues,  # noqa: F811 - a fixture
    carriers: Carriers,  # noqa: F811 - a fixture
) -> None:
    message_id, queue = _live_message(live, carriers, "whatsapp")
    run_send_worker(dev, queue)
    due_for_reconciliation()
    assert run_receipts_job()["receipt_missing"] == 1
    entry = log(live, message_id)
    assert (entry["status"], entry["error"]["code"]) == ("sent", "receipt_missing")
    [sent] = carriers.whatsapp.accepted()
    late = _callback(carriers, "whatsapp", sent.carrier_id, "read")
    assert json.loads(late.body)["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"]
    assert to_gateway(late).status == 200
    assert (log(live, message_id)["status"], log(live, message_id).get("error")) == ("read", None)


# --- the local stack (`make dev`): the same behaviour through the gateway, its workers, pump and scheduler ---------


@pytest.fixture(scope="module")
def stack() -> Iterator[local_stack.Client]:
    yield from local_stack.running()


def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_local_stack_delivers_and_reconciles_a_sandbox_carrier_that_never_calls_back(
    stack: local_stack.Client,
) -> None:
    status, recipient = stack.json("POST", "/v1/recipients", {"phone": "+14155559901", "name": "Ada"})
    assert status == 201, recipient
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert stack.json("POST", f"/v1/recipients/{recipient['id']}/consents", consent)[0] == 201

    def message_status(message_id: str) -> str:
        answer_status, body = stack.json("GET", f"/v1/messages/{message_id}")
        assert answer_status == 200, body
        return str(body["status"])

    def send_one() -> str:
        answer_status, body = stack.json("POST", "/v1/messages", {"channel": "sms", "to": "+14155559901", "body": "Hi"})
        assert answer_status == 202, body
        return str(body["id"])

    # The sandbox calls back at once (the pump posts within 0.2 s, often before the mapping): delivered.
    first = send_one()
    assert _until(lambda: message_status(first) == "delivered")
    # A carrier that never calls back: the message stays `sent` until the receipts job asks its status API.
    answer_status, body = stack.json("PUT", "/_local/carriers/sandbox-a", {"receipts": False}, auth=False)
    assert (answer_status, body) == (200, {"carrier": "sandbox-a", "state": "up", "receipts": False})
    try:
        silent = send_one()
        assert _until(lambda: message_status(silent) == "sent")
        assert stack.json("POST", "/_local/jobs/receipts", auth=False)[1]["checked"] == 0  # not due yet
        advance = {"advance_s": settings.get().receipt_check_after_s + 1}
        assert stack.json("POST", "/_local/clock", advance, auth=False)[0] == 200
        stack.ensure_session()  # an hour later the session may have gone idle
        answer_status, report = stack.json("POST", "/_local/jobs/receipts", auth=False)
        assert answer_status == 200, report
        assert _until(lambda: message_status(silent) == "delivered")  # by this run or the scheduler's own
    finally:
        stack.json("PUT", "/_local/carriers/sandbox-a", {"receipts": True}, auth=False)
