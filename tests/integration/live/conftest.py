"""The live path in a deployed-like stage (STAGE=dev): real adapters, fake carriers on loopback, a customer receiver.

Three seams, each explicit and each a test fixture (no production setting can reach them):
- `registry.point_at`: the real Twilio, Plivo and WhatsApp adapters are built against the fake carriers' loopback
  URLs (code only; deployed they always call the carriers' own HTTPS APIs, and a unit test keeps every caller in
  tests/).
- Carrier credentials are Secrets Manager secrets (moto) with test values, read by the adapters as deployed.
- `customer`: the customer's webhook host gets a public address from DNS (`webhook_client.resolve`, the sender's
  one lookup), that address is routed to a TLS receiver on loopback, and the receiver's test CA is trusted. The SSRF
  guard itself runs unchanged with `local=False`: https on 443 only, every resolved address checked, the checked
  address pinned, the certificate verified for the hostname. pytest-socket allows loopback only, so nothing can
  leave the machine if a route were missing.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import pytest_socket
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from functions.callback_worker import handler as callback_worker
from functions.carrier_events import handler as carrier_events
from functions.messages_api import handler as messages_api
from functions.send_worker import handler as send_worker
from functions.webhooks_api import handler as webhooks_api
from local.workers import failed_ids, sqs_event
from switchboard import catalog, clock, outbound, settings, webhook_client
from switchboard.carriers import registry, support
from switchboard.crypto import secret_store
from switchboard.logic import receipts
from tests import certificates
from tests.integration.conftest import Context, rest_event
from tests.integration.identity.conftest import identity  # noqa: F401 - a fixture: the gateway test signs up
from tests.integration.live import fakes as fakes_module
from tests.integration.live.fakes import CarrierRequest, FakePlivo, FakeTwilio, FakeWhatsApp, serving
from tests.integration.messaging.conftest import Account, Answer, Queues, make_account, queues  # noqa: F401 - fixture

STAGE = "dev"
PUBLIC_BASE_URL = "https://api.dev.switchboard.example"
PHONE = "+14155552671"
SENDERS = {"sms": "+14155550100", "whatsapp": "+14155550101", "voice": "+14155550102"}
WHATSAPP_NUMBER_ID = "109876543210987"
TWILIO = {"account_sid": "AC" + "7" * 32, "auth_token": "twilio-live-test-token"}
PLIVO = {"auth_id": "MA" + "7" * 18, "auth_token": "plivo-live-test-token"}
WHATSAPP = {
    "access_token": "EAAG-live-test-token",
    "app_secret": "meta-live-test-app-secret",
    "verify_token": "live-test-verify-token",
    "phone_number_ids": {SENDERS["whatsapp"]: WHATSAPP_NUMBER_ID},
}
CUSTOMER_HOST = "hooks.customer.test"
# example.com's address (IANA): global unicast, so the guard lets it through; `customer` routes it to loopback.
CUSTOMER_ADDRESS = "93.184.215.14"


def events_url(carrier: str) -> str:
    """Where a carrier is configured to post (the public events route of this stage)."""
    return f"{PUBLIC_BASE_URL}/v1/carriers/{carrier}/events"


def callback_url(carrier: str, account: Account, message_id: str) -> str:
    """Where a carrier reports one message's statuses: the events URL with our ref to it (logic.receipts)."""
    ref = receipts.callback_ref(account.account_id, message_id)
    return f"{events_url(carrier)}?{support.REF_PARAM}={ref}"


@dataclass(frozen=True)
class Carriers:
    """The three fake carrier APIs the real adapters talk to."""

    twilio: FakeTwilio
    plivo: FakePlivo
    whatsapp: FakeWhatsApp

    def requests(self) -> dict[str, int]:
        """How many requests each fake received."""
        return {"twilio": len(self.twilio.seen), "plivo": len(self.plivo.seen), "whatsapp": len(self.whatsapp.seen)}


@pytest.fixture
def dev(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:  # noqa: F811 - the fixture above
    """Every catalog queue and table under moto, in the deployed-like stage `dev` (not `local`)."""
    monkeypatch.setenv("STAGE", STAGE)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    settings.reload()
    assert not settings.get().rules.sandbox_carriers
    yield queues
    settings.reload()


@pytest.fixture
def carriers(dev: Queues, monkeypatch: pytest.MonkeyPatch) -> Iterator[Carriers]:
    """Fake carriers on loopback, their credentials in Secrets Manager, the registry's adapters pointed at them."""
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)  # nothing leaves this machine
    client = boto3.client("secretsmanager")
    for spec, value in zip(
        (catalog.secret(f"{name}Credentials") for name in ("Twilio", "Plivo", "WhatsApp")),
        (TWILIO, PLIVO, WHATSAPP),
        strict=True,
    ):
        arn = client.create_secret(Name=f"switchboard/{STAGE}/{spec.id}", SecretString=json.dumps(value))["ARN"]
        monkeypatch.setenv(spec.env, arn)
    settings.reload()
    secret_store.forget()
    fakes_module.warm_up()
    with ExitStack() as stack:
        fakes = Carriers(
            twilio=stack.enter_context(serving(FakeTwilio(TWILIO["account_sid"], TWILIO["auth_token"]))),
            plivo=stack.enter_context(serving(FakePlivo(PLIVO["auth_id"], PLIVO["auth_token"]))),
            whatsapp=stack.enter_context(
                serving(FakeWhatsApp(WHATSAPP["access_token"], WHATSAPP["app_secret"], WHATSAPP["phone_number_ids"]))
            ),
        )
        registry.point_at({"twilio": fakes.twilio.url, "plivo": fakes.plivo.url, "whatsapp": fakes.whatsapp.url})
        try:
            yield fakes
        finally:
            registry.point_at({})
            secret_store.forget()
        # Every request our adapters made is the one the provider's own SDK makes, and no fake failed.
        assert fakes.twilio.problems + fakes.plivo.problems + fakes.whatsapp.problems == []


@pytest.fixture
def account(carriers: Carriers) -> Account:
    """An account whose senders are real carrier numbers (Twilio for SMS and voice, WhatsApp's own number)."""
    return make_account(numbers=SENDERS, carriers={"sms": "twilio", "voice": "twilio", "whatsapp": "whatsapp"})


def to_gateway(request: CarrierRequest) -> Answer:
    """A carrier's request as API Gateway hands it to the carrier events function (public route, no authorizer)."""
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE_URL, request.url  # carriers call our public API
    event = rest_event("POST", parts.path, request.body.decode())
    event["headers"] = dict(request.headers)
    event["multiValueHeaders"] = {k: [v] for k, v in request.headers.items()}
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    event["queryStringParameters"] = query or None
    event["pathParameters"] = {"carrier": parts.path.split("/")[3]}
    event["resource"] = "/v1/carriers/{carrier}/events"
    result = carrier_events.lambda_handler(event, Context())
    headers = {k.lower(): v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    text = result.get("body") or ""
    body = json.loads(text) if "json" in headers.get("content-type", "") else text
    return Answer(result["statusCode"], headers, body)


def run_send_worker(dev: Queues, queue_id: str, *, redeliveries: int = 0) -> dict[str, Any]:
    """The send worker over what is on a channel's queue now, as the SQS event source invokes it.

    `redeliveries`: how many times the records it reported failed come back, as SQS returns them after their
    visibility timeout (for tests about what follows a send, not about the first attempt's failover budget).
    """
    messages = dev.drain(queue_id)
    arn = f"arn:aws:sqs:eu-west-1:1:switchboard-dev-{queue_id}"
    result: dict[str, Any] = send_worker.lambda_handler(sqs_event(messages, arn), Context())
    for round_ in range(1, redeliveries + 1):
        failed = failed_ids(result, {m["MessageId"] for m in messages})
        if not failed:
            break
        # What SQS hands back: the same records, received once more.
        again = [
            {**m, "Attributes": {**m.get("Attributes", {}), "ApproximateReceiveCount": str(round_ + 1)}}
            for m in messages
            if m["MessageId"] in failed
        ]
        result = send_worker.lambda_handler(sqs_event(again, arn), Context())
    return {"records": len(messages), **result}


def run_callback_worker(dev: Queues) -> dict[str, Any]:
    """The callback worker over what is on the Callbacks queue now."""
    messages = dev.drain("Callbacks")
    result: dict[str, Any] = callback_worker.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()
    )
    return {"records": len(messages), **result}


@dataclass(frozen=True)
class Delivery:
    """One webhook request the customer's receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str, now: float) -> dict[str, Any]:
        """The event, after checking `Switchboard-Signature` as API.md tells customers to (not with our code)."""
        fields = dict(part.split("=", 1) for part in self.headers["switchboard-signature"].split(","))
        expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + self.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected), "signature does not verify"
        assert abs(now - int(fields["t"])) <= 300
        event: dict[str, Any] = json.loads(self.body)
        assert self.headers["switchboard-event-id"] == event["id"]
        return event


@dataclass
class Customer:
    """The customer's webhook receiver (HTTPS on 443 at CUSTOMER_HOST, as far as our sender can tell)."""

    url: str
    received: list[Delivery] = field(default_factory=list)
    dns: dict[str, list[str]] = field(default_factory=dict)
    handshakes: list[str | None] = field(default_factory=list)  # the SNI name of each TLS connection


def _certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it issued for CUSTOMER_HOST: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=1))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = certificates.named("Switchboard live-suite test CA")
    ca = (
        certificates.unsigned(ca_name, ca_name, ca_key.public_key(), valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        certificates.unsigned(certificates.named(CUSTOMER_HOST), ca_name, key.public_key(), valid)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CUSTOMER_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def customer(carriers: Carriers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Customer]:
    """The customer's HTTPS receiver, reachable at https://CUSTOMER_HOST/ (see the module doc)."""
    ca_file, cert_file, key_file = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    hub = Customer(url=f"https://{CUSTOMER_HOST}/switchboard", dns={CUSTOMER_HOST: [CUSTOMER_ADDRESS]})
    context.sni_callback = lambda _sock, name, _ctx: hub.handshakes.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hub.received.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    # DNS: the sender's one lookup answers from `hub.dns` (tests change it to play a rebinding attacker).
    def resolve(host: str, _port: int) -> list[str]:
        if host not in hub.dns:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(hub.dns[host])

    # Routing: the customer's public address on 443 is this receiver; every other address is left alone.
    real_connect: Callable[[str, int, float], socket.socket] = outbound.connect

    def connect(address: str, to_port: int, timeout_s: float) -> socket.socket:
        routed = ("127.0.0.1", port) if (address, to_port) == (CUSTOMER_ADDRESS, 443) else (address, to_port)
        return real_connect(*routed, timeout_s)

    monkeypatch.setattr(webhook_client, "resolve", resolve)
    monkeypatch.setattr(outbound, "connect", connect)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the customer's certificate chains to a CA we trust
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


EVENTS = ["message.status", "message.inbound", "recipient.opted_out"]


def subscribe(account: Account, customer: Customer) -> tuple[str, str]:
    """The customer's endpoint, created through the API (its URL passes the deployed SSRF checks): (id, secret)."""
    created = account.call(webhooks_api, "POST", "/v1/webhook-endpoints", {"url": customer.url, "events": EVENTS})
    assert created.status == 201, created.body
    return created.body["id"], created.body["secret"]


def send(account: Account, channel: str, body: str = "Hello Ada") -> str:
    answer = account.call(messages_api, "POST", "/v1/messages", {"channel": channel, "to": PHONE, "body": body})
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "queued"
    return str(answer.body["id"])


def log(account: Account, message_id: str) -> dict[str, Any]:
    answer = account.call(messages_api, "GET", f"/v1/messages/{message_id}")
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def attempts(entry: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["carrier"], a["outcome"]) for a in entry["attempts"]]


def forged(request: CarrierRequest) -> CarrierRequest:
    """The same request with one byte of the body changed after signing."""
    return CarrierRequest(request.url, request.headers, request.body[:-1] + bytes([request.body[-1] ^ 1]))


def webhook_events(customer: Customer, secret: str) -> list[dict[str, Any]]:
    """Every event the customer received, each signature checked."""
    assert all(d.path == "/switchboard" for d in customer.received)
    return [d.verified(secret, clock.timestamp()) for d in customer.received]
