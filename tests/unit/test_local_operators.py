"""The local gateway's IAM auth for operator routes: SigV4 recomputed with botocore, the credentials file (0600)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local import operators
from local.gateway import Gateway, Request
from local.lambdas import Handler, Invoker
from local.provision import REGION
from switchboard import catalog
from switchboard.operators import LOCAL_MFA_FIELD, OperatorPermission

HOST = "127.0.0.1:8080"
WHO = "/ops/v1/whoami"
OPS = catalog.Function(name="fake_ops", description="test-only")
CUSTOMER = catalog.Function(name="fake_api", description="test-only")
ROUTES = [
    (
        catalog.Route("GET", "/ops/v1/whoami", catalog.Auth.OPERATOR, "who", permission=OperatorPermission.SELF_READ),
        OPS,
    ),
    (
        catalog.Route(
            "POST", "/ops/v1/things/{id}", catalog.Auth.OPERATOR, "do", permission=OperatorPermission.SECRETS_ROTATE
        ),
        OPS,
    ),
    (catalog.Route("GET", "/v1/messages", catalog.Auth.ANY, "list", permission=None), CUSTOMER),
]


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "local" / "operators.json"
    operators.issue(path, f"http://{HOST}")
    return path


def credential(path: Path, name: str = "alice") -> operators.Credential:
    return operators.load(path)[name]


def signed(
    cred: operators.Credential | tuple[str, str],
    method: str,
    target: str,
    body: bytes = b"",
    *,
    at: datetime | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
    region: str = REGION,
    service: str = operators.SERVICE,
) -> list[tuple[str, str]]:
    key, secret = (cred.access_key_id, cred.secret_access_key) if isinstance(cred, operators.Credential) else cred
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body, headers={"Accept": "application/json"})
    if at is not None and monkeypatch is not None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at.replace(tzinfo=None))
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return [("Host", HOST), *request.headers.items(), ("User-Agent", "pytest")]


def verify(path: Path, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> str:
    return operators.verify(operators.Keys(path), method=method, target=target, headers=headers, body=body).name


def test_the_credentials_file_is_private_and_names_three_operators_with_mfa(keys_file: Path) -> None:
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    issued = operators.load(keys_file)
    assert {(c.name, c.role, c.mfa) for c in issued.values()} == {
        ("alice", "security", True),
        ("bob", "security", True),
        ("carol", "support", True),
    }
    assert len({c.secret_access_key for c in issued.values()}) == 3
    again = operators.issue(keys_file, f"http://{HOST}")  # a new start: new keys, the old ones stop working
    assert {c.access_key_id for c in again}.isdisjoint(c.access_key_id for c in issued.values())
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text())["endpoint"] == f"http://{HOST}"


def test_a_correctly_signed_request_is_its_operator(keys_file: Path) -> None:
    alice = credential(keys_file)
    assert verify(keys_file, "GET", "/ops/v1/whoami?b=2&a=1", signed(alice, "GET", "/ops/v1/whoami?b=2&a=1")) == "alice"
    body = b'{"reason":"rotate"}'
    headers = signed(alice, "POST", "/ops/v1/things/x%2Fy", body)
    assert verify(keys_file, "POST", "/ops/v1/things/x%2Fy", headers, body) == "alice"


def _replace(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [(k, value if k.lower() == name else v) for k, v in headers]


THING = "/ops/v1/things/a"
NOW = datetime.now(UTC)
Sent = tuple[str, str, list[tuple[str, str]], bytes]


def _at(moment: datetime) -> str:
    return moment.strftime(operators.TIMESTAMP)


def tampered(case: str, c: operators.Credential, m: pytest.MonkeyPatch) -> Sent:  # noqa: PLR0911, PLR0912 - one per case
    """A request as an attacker (or a broken client) would send it: signed, then changed, or never signed right."""
    if case == "wrong secret":
        return "GET", WHO, signed((c.access_key_id, "x" * 40), "GET", WHO), b""
    if case == "unknown key":
        return "GET", WHO, signed(("AKIA" + "0" * 16, c.secret_access_key), "GET", WHO), b""
    if case == "altered body":
        return "POST", THING, signed(c, "POST", THING, b"{}"), b'{"x":1}'
    if case == "altered path":
        return "POST", "/ops/v1/things/b", signed(c, "POST", THING, b"{}"), b"{}"
    if case == "altered query":
        return "GET", WHO + "?x=2", signed(c, "GET", WHO + "?x=1"), b""
    if case == "added query":
        return "GET", WHO + "?x=1", signed(c, "GET", WHO), b""
    if case == "altered method":
        return "POST", WHO, signed(c, "GET", WHO), b""
    if case == "stale date":
        # From the clock now, not at import: a slow run must not bring a "future" date back inside the window.
        return "GET", WHO, signed(c, "GET", WHO, at=datetime.now(UTC) - timedelta(minutes=6), monkeypatch=m), b""
    if case == "future date":
        return "GET", WHO, signed(c, "GET", WHO, at=datetime.now(UTC) + timedelta(minutes=6), monkeypatch=m), b""
    if case == "date moved after signing":
        headers = signed(c, "GET", WHO)
        stamp = datetime.strptime(dict(headers)["X-Amz-Date"], operators.TIMESTAMP) - timedelta(seconds=1)
        return "GET", WHO, _replace(headers, "x-amz-date", _at(stamp)), b""
    if case == "other host":
        return "GET", WHO, _replace(signed(c, "GET", WHO), "host", "evil.example"), b""
    if case == "other region":
        return "GET", WHO, signed(c, "GET", WHO, region="us-east-1"), b""
    if case == "other service":
        return "GET", WHO, signed(c, "GET", WHO, service="s3"), b""
    if case == "unsigned":
        return "GET", WHO, [("Host", HOST)], b""
    if case == "bearer token":
        return "GET", WHO, [("Host", HOST), ("Authorization", "Bearer sbs_x")], b""
    if case == "two signatures":
        return "GET", WHO, [*signed(c, "GET", WHO), ("Authorization", "AWS4-HMAC-SHA256 x")], b""
    if case == "lying content hash":
        return "POST", THING, [*signed(c, "POST", THING, b"{}"), ("X-Amz-Content-SHA256", "0" * 64)], b"{}"
    raise AssertionError(case)


TAMPERED = [
    *("wrong secret", "unknown key", "altered body", "altered path", "altered query", "added query"),
    *("altered method", "stale date", "future date", "date moved after signing", "other host", "other region"),
    *("other service", "unsigned", "bearer token", "two signatures", "lying content hash"),
]


@pytest.mark.parametrize("case", TAMPERED)
def test_a_request_not_signed_as_sent_by_a_known_key_is_refused(
    case: str, keys_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method, target, headers, body = tampered(case, credential(keys_file), monkeypatch)
    monkeypatch.undo()  # the clock is real again for the check
    with pytest.raises(operators.SignatureRefused):
        verify(keys_file, method, target, headers, body)


def test_a_credential_added_later_is_found_and_carries_its_mfa_state(keys_file: Path) -> None:
    keys = operators.Keys(keys_file)
    assert keys.find(credential(keys_file).access_key_id) is not None
    dave = operators.add(keys_file, "dave", "security", mfa=False)
    assert keys.find(dave.access_key_id) == dave
    identity = operators.identity(dave, {"sourceIp": "127.0.0.1"})
    assert identity[LOCAL_MFA_FIELD] == "false"
    assert identity["userArn"] == "arn:aws:sts::123456789012:assumed-role/switchboard-local-operator-security/dave"
    assert identity["accessKey"] == dave.access_key_id and identity["caller"].endswith(":dave")
    assert identity["sourceIp"] == "127.0.0.1"


# --- through the gateway ---------------------------------------------------------------------------------------------


class Fakes:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def handler(self, name: str) -> Handler:
        def run(event: dict[str, Any], context: Any) -> Any:
            self.events.append((name, event))
            if name == "fake_authorizer":
                raise Exception("Unauthorized")  # the customer authorizer knows no SigV4
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

        return run


def _gateway(fakes: Fakes, path: Path) -> Gateway:
    return Gateway(
        invoker=Invoker(fakes.handler),
        routes=ROUTES,
        authorizer=catalog.Function(name="fake_authorizer", description="test-only"),
        use_catalog_authorizer=False,
        operator_keys=operators.Keys(path),
    )


def test_the_gateway_hands_a_verified_operator_identity_to_the_function(keys_file: Path) -> None:
    fakes = Fakes()
    carol = credential(keys_file, "carol")
    response = _gateway(fakes, keys_file).dispatch(
        Request("GET", "/ops/v1/whoami", signed(carol, "GET", "/ops/v1/whoami"))
    )
    assert response.status == 200
    [(name, event)] = fakes.events
    assert name == "fake_ops" and "authorizer" not in event["requestContext"]
    identity = event["requestContext"]["identity"]
    assert identity["userArn"].endswith(":assumed-role/switchboard-local-operator-support/carol")
    assert identity[LOCAL_MFA_FIELD] == "true"


@pytest.mark.parametrize("case", ["unsigned", "bearer token", "wrong secret", "altered path"])
def test_the_gateway_refuses_a_bad_signature_with_403_and_runs_nothing(
    case: str, keys_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes()
    method, target, headers, body = tampered(case, credential(keys_file), monkeypatch)
    response = _gateway(fakes, keys_file).dispatch(Request(method, target, headers, body))
    assert response.status == 403
    assert json.loads(response.body)["code"] == "forbidden"
    assert fakes.events == []


def test_a_gateway_without_operator_keys_refuses_every_operator_route(keys_file: Path) -> None:
    fakes = Fakes()
    gateway = Gateway(invoker=Invoker(fakes.handler), routes=ROUTES, use_catalog_authorizer=False)
    headers = signed(credential(keys_file), "GET", "/ops/v1/whoami")
    assert gateway.dispatch(Request("GET", "/ops/v1/whoami", headers)).status == 403
    assert fakes.events == []


def test_a_sigv4_signature_on_a_customer_route_goes_to_the_customer_authorizer_which_answers_401(
    keys_file: Path,
) -> None:
    fakes = Fakes()
    headers = signed(credential(keys_file), "GET", "/v1/messages")
    response = _gateway(fakes, keys_file).dispatch(Request("GET", "/v1/messages", headers))
    assert response.status == 401
    assert [name for name, _ in fakes.events] == ["fake_authorizer"]
