"""switchboard-ops without a stack: its options, the signing client's sources of credentials, and its output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ops_cli import main as cli
from ops_cli import output
from ops_cli.client import Problem, UsageError, aws_client, local_client


def test_every_existing_command_group_registers_and_a_group_listed_twice_registers_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "GROUPS", ("ops_cli.accounts", "ops_cli.accounts", "ops_cli.no_such_group"))
    args = cli.parser().parse_args(["--profile", "alice", "accounts", "show", "acct_x"])
    assert (args.command, args.action, args.account_id, args.profile) == ("accounts", "show", "acct_x", "alice")
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--profile", "alice"])  # a command is required


def test_a_local_profile_comes_from_the_credentials_file_with_its_endpoint_and_region(tmp_path: Path) -> None:
    path = tmp_path / "operators.json"
    profile = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s", "role": "support", "mfa": True}
    document = {"endpoint": "http://127.0.0.1:9999", "region": "eu-west-1", "profiles": {"carol": profile}}
    path.write_text(json.dumps(document))
    client = local_client("carol", None, path)
    assert (client.endpoint, client.region, client.credentials.access_key) == (
        "http://127.0.0.1:9999",
        "eu-west-1",
        "AKIDEXAMPLE",
    )
    assert local_client("carol", "http://127.0.0.1:1", path).endpoint == "http://127.0.0.1:1"
    with pytest.raises(UsageError, match="no operator profile 'mallory'"):
        local_client("mallory", None, path)
    with pytest.raises(UsageError, match="make dev"):
        local_client("carol", None, tmp_path / "absent.json")
    with pytest.raises(UsageError, match="http"):
        local_client("carol", "file:///etc/passwd", path)


def test_aws_mode_signs_with_the_credential_chain_and_the_region_of_the_execute_api_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-of-an-mfa-session")
    client = aws_client("https://abc123.execute-api.eu-central-1.amazonaws.com/live", None, None)
    assert client.region == "eu-central-1"
    assert (client.credentials.access_key, client.credentials.token) == ("ASIAEXAMPLE", "token-of-an-mfa-session")
    assert aws_client("https://ops.example.com", "us-east-2", None).region == "us-east-2"
    with pytest.raises(UsageError, match="--endpoint"):
        aws_client(None, None, None)


def test_a_problem_reads_the_code_and_detail_of_a_problem_document() -> None:
    refused = Problem(403, {"code": "mfa-enrolment-required", "detail": "MFA first.", "request_id": "r1"})
    assert (refused.status, refused.code, refused.detail) == (403, "mfa-enrolment-required", "MFA first.")
    err = io.StringIO()
    output.problem(refused.status, refused.code, refused.detail, "r1", out=err)
    assert err.getvalue() == "error: 403 mfa-enrolment-required: MFA first. (request r1)\n"


def test_tables_align_their_columns_and_show_missing_values_as_a_dash() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "acct_1", "status": "active", "n": 3},
        {"id": "acct_22", "status": None, "n": True},
    ]
    assert output.table(rows, [("id", "account"), ("status", "status"), ("n", "n")]).splitlines() == [
        "ACCOUNT  STATUS  N",
        "acct_1   active  3",
        "acct_22  -       yes",
    ]
    assert output.table([], [("id", "account")]) == "ACCOUNT"
    assert output.fields({"a": 1, "bb": ["x", "y"]}) == "a   1\nbb  x, y"


def test_progress_yields_every_item_and_reports_each_step() -> None:
    err = io.StringIO()
    assert list(output.progress(["a", "b", "c"], total=3, label="revoking", out=err)) == ["a", "b", "c"]
    assert err.getvalue().splitlines() == ["revoking 1/3", "revoking 2/3", "revoking 3/3"]
