"""The operator API through the local stack: SigV4 against make dev's operators, MFA, credential separation, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local import operators
from ops_cli import main as cli
from switchboard import catalog
from tests.e2e.conftest import E2E_ENV, Answer, LocalStack, running_stack
from tests.e2e.test_contract import _owner as verified_owner

pytestmark = pytest.mark.e2e
_PARAM = re.compile(r"\{([^}]+?)\+?\}")


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    """A stack of its own whose operator credentials live in a test directory (never the developer's)."""
    directory = tmp_path_factory.mktemp("ops-stack")
    keys = directory / "operators.json"
    with running_stack(directory, env={**E2E_ENV, operators.FILE_ENV: str(keys)}) as stack:
        yield stack, keys


@pytest.fixture(scope="module")
def stack(ops: tuple[LocalStack, Path]) -> LocalStack:
    return ops[0]


@pytest.fixture(scope="module")
def keys(ops: tuple[LocalStack, Path]) -> Path:
    return ops[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def owner(stack: LocalStack) -> dict[str, str]:
    """A verified owner (the contract suite's): session, an API key, the account id."""
    email, session = verified_owner(stack)
    key = stack.request("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"}, headers=bearer(session)).json()
    account = stack.request("GET", "/v1/account", headers=bearer(session)).json()
    return {"email": email, "session": session, "key": key["key"], "account_id": account["id"]}


def sign(
    credential: operators.Credential | tuple[str, str],
    stack: LocalStack,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    key, secret = (
        (credential.access_key_id, credential.secret_access_key)
        if isinstance(credential, operators.Credential)
        else credential
    )
    request = AWSRequest(method=method, url=stack.base_url + path, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), operators.SERVICE, "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def call(stack: LocalStack, credential: operators.Credential, method: str, path: str, **headers: str) -> Answer:
    """A signed call without a body (Content-Type text/plain: no gateway body model applies to it)."""
    wanted = {"Content-Type": "text/plain", **headers}
    return stack.request(method, path, headers=sign(credential, stack, method, path, headers=wanted), raw=b"")


def audit_types(stack: LocalStack, owner: dict[str, str]) -> list[tuple[str, str]]:
    events = stack.request("GET", "/v1/audit-events?limit=100", headers=bearer(owner["session"])).json()["data"]
    return [(e["type"], e["actor"]) for e in events]


def concrete(template: str, account_id: str) -> str:
    return _PARAM.sub(lambda m: account_id if m.group(1) == "account_id" else "x1", template)


def test_a_signed_operator_reads_an_accounts_metadata_and_the_owner_sees_the_read(
    stack: LocalStack, keys: Path, owner: dict[str, str]
) -> None:
    carol = operators.load(keys)["carol"]
    answer = call(stack, carol, "GET", f"/ops/v1/accounts/{owner['account_id']}")
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["id"] == owner["account_id"] and body["status"] == "active"
    assert (body["users"], body["api_keys"]) == (1, 1)
    assert body["sessions"] >= 1
    assert {"plan", "created_at", "senders"} <= set(body)
    # No personal data: neither the account's name (it may be a person's), nor an address, nor a key.
    assert "Contract Co" not in answer.text and owner["email"] not in answer.text and "name" not in body
    assert ("operator.account.read", "operator:carol") in audit_types(stack, owner)


def test_whoami_names_the_operator_their_role_and_what_it_allows(stack: LocalStack, keys: Path) -> None:
    body = call(stack, operators.load(keys)["carol"], "GET", "/ops/v1/whoami").json()
    assert (body["id"], body["role"], body["mfa"]) == ("carol", "support", True)
    assert "ops:accounts:read" in body["permissions"] and "ops:accounts:suspend_reinstate" not in body["permissions"]
    assert call(stack, operators.load(keys)["alice"], "GET", "/ops/v1/whoami").json()["role"] == "security"


def test_an_unknown_account_is_404_and_nothing_is_audited(stack: LocalStack, keys: Path) -> None:
    alice = operators.load(keys)["alice"]
    for account_id in ("acct_00000000000000000000000000", "nope", "..%2F..%2Fv1%2Faccount"):
        answer = call(stack, alice, "GET", f"/ops/v1/accounts/{account_id}")
        assert answer.status == 404, (account_id, answer.text)


def _badly_signed(
    case: str, stack: LocalStack, alice: operators.Credential, path: str
) -> tuple[str, dict[str, str], bytes]:
    plain = {"Content-Type": "text/plain"}
    if case == "wrong secret":
        return path, sign((alice.access_key_id, "x" * 40), stack, "GET", path, headers=plain), b""
    if case == "unknown key":
        return path, sign(("AKIA" + "1" * 16, alice.secret_access_key), stack, "GET", path, headers=plain), b""
    if case == "altered body":
        return path, sign(alice, stack, "GET", path, headers=plain), b"x"
    if case == "altered path":
        return path + "x", sign(alice, stack, "GET", path, headers=plain), b""
    if case == "altered query":
        return path + "?limit=1", sign(alice, stack, "GET", path, headers=plain), b""
    if case == "unsigned":
        return path, plain, b""
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["wrong secret", "unknown key", "altered body", "altered path", "altered query", "unsigned", "stale date"]
)
def test_a_request_not_validly_signed_is_403_and_leaves_no_audit_event(
    case: str, stack: LocalStack, keys: Path, owner: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = operators.load(keys)["alice"]
    path = f"/ops/v1/accounts/{owner['account_id']}"
    before = audit_types(stack, owner)
    if case == "stale date":
        stale = datetime.now(UTC) - timedelta(minutes=5, seconds=30)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale.replace(tzinfo=None))
        target, headers, body = path, sign(alice, stack, "GET", path, headers={"Content-Type": "text/plain"}), b""
        monkeypatch.undo()
    else:
        target, headers, body = _badly_signed(case, stack, alice, path)
    answer = stack.request("GET", target, headers=headers, raw=body)
    assert (answer.status, answer.json()["code"]) == (403, "forbidden"), answer.text
    assert audit_types(stack, owner) == before


def test_an_operator_without_mfa_is_refused_on_every_operator_route(
    stack: LocalStack, keys: Path, owner: dict[str, str]
) -> None:
    dave = operators.add(keys, "dave", "security", mfa=False)
    before = audit_types(stack, owner)
    for route, _ in catalog.operator_routes():
        path = concrete(route.path, owner["account_id"])
        answer = call(stack, dave, route.method, path)
        assert (answer.status, answer.json()["code"]) == (403, "mfa-enrolment-required"), (route.path, answer.text)
    assert audit_types(stack, owner) == before


@pytest.mark.parametrize("credential", ["session", "key"])
def test_customer_credentials_are_refused_on_every_operator_route(
    credential: str, stack: LocalStack, owner: dict[str, str]
) -> None:
    for route, _ in catalog.operator_routes():
        path = concrete(route.path, owner["account_id"])
        answer = stack.request(route.method, path, headers={**bearer(owner[credential]), "Content-Type": "text/plain"})
        assert (answer.status, answer.json()["code"]) == (403, "forbidden"), (route.path, answer.text)


def test_operator_signatures_are_refused_on_every_customer_route_that_is_not_public(
    stack: LocalStack, keys: Path, owner: dict[str, str]
) -> None:
    alice = operators.load(keys)["alice"]
    guarded = [route for route, _ in catalog.routes() if route.auth is not catalog.Auth.PUBLIC]
    assert guarded
    for route in guarded:
        answer = call(stack, alice, route.method, concrete(route.path, owner["account_id"]))
        assert (answer.status, answer.json()["code"]) == (401, "unauthorized"), (route.path, answer.text)


def run_cli(keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    monkeypatch.setenv(operators.FILE_ENV, str(keys))
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_switchboard_ops_whoami_and_accounts_show_against_the_local_stack(
    stack: LocalStack,
    keys: Path,
    owner: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run_cli(keys, monkeypatch, capsys, "--profile", "bob", "whoami")
    assert status == 0
    assert re.search(r"^operator\s+bob$", out, re.MULTILINE) and re.search(r"^role\s+security$", out, re.MULTILINE)
    status, out, _ = run_cli(keys, monkeypatch, capsys, "--profile", "bob", "accounts", "show", owner["account_id"])
    assert status == 0
    assert re.search(rf"^account\s+{owner['account_id']}$", out, re.MULTILINE)
    assert re.search(r"^API keys\s+1$", out, re.MULTILINE)
    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "bob", "--json", "accounts", "show", owner["account_id"]
    )
    assert status == 0 and json.loads(out)["id"] == owner["account_id"]
    assert ("operator.account.read", "operator:bob") in audit_types(stack, owner)


def test_switchboard_ops_prints_a_refusal_and_exits_non_zero(
    stack: LocalStack, keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    operators.add(keys, "erin", "support", mfa=False)
    status, out, err = run_cli(keys, monkeypatch, capsys, "--profile", "erin", "whoami")
    assert (status, out) == (1, "")
    assert "403 mfa-enrolment-required" in err
    status, _, err = run_cli(keys, monkeypatch, capsys, "--profile", "alice", "accounts", "show", "acct_nope")
    assert status == 1 and "404 not_found" in err
    status, _, err = run_cli(keys, monkeypatch, capsys, "--profile", "mallory", "whoami")
    assert status == 2 and "no operator profile 'mallory'" in err


def test_make_dev_prints_how_to_use_the_operator_credentials(stack: LocalStack, keys: Path) -> None:
    printed = stack.stdout.read_text()
    assert str(keys) in printed and "switchboard-ops --profile alice" in printed
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
