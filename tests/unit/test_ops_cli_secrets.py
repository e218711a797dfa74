"""`switchboard-ops secrets list|rotate`: the requests it signs and what it prints (the API answers are canned)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ops_cli import main as cli

LISTED = {
    "data": [
        {
            "name": "password-pepper",
            "purpose": "Argon2id pepper",
            "versions": [
                {"version": "password_v2", "number": 2, "created_at": "2026-12-02T16:40:00Z", "current": True},
                {"version": "password_v1", "number": 1, "created_at": None, "current": False},
            ],
        }
    ]
}
ROTATED = {
    "name": "password-pepper",
    "version": "password_v3",
    "created_at": "2026-12-02T17:00:00Z",
    "previous": "password_v2",
}


class Recording:
    """Stands in for the signing client: records each request and answers the canned JSON."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str]] = []

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        self.requests.append((method, path))
        return self.answer


def run(argv: list[str], answer: Any) -> tuple[Recording, Any]:
    args = cli.parser().parse_args(["--profile", "alice", *argv])
    client = Recording(answer)
    assert args.run(args, client) == 0
    return client, args


def test_list_prints_each_version_with_its_date_and_at_deploy_for_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = run(["secrets", "list"], LISTED)
    assert client.requests == [("GET", "/ops/v1/secrets")]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SECRET", "VERSION", "CURRENT", "CREATED"]
    assert lines[1].split() == ["password-pepper", "password_v2", "yes", "2026-12-02T16:40:00Z"]
    assert lines[2].split() == ["password-pepper", "password_v1", "no", "at", "deploy"]


def test_rotate_posts_to_the_named_secret_quoted_and_json_prints_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = run(["--json", "secrets", "rotate", "password-pepper"], ROTATED)
    assert client.requests == [("POST", "/ops/v1/secrets/password-pepper/rotate")]
    assert json.loads(capsys.readouterr().out) == ROTATED
    client, _ = run(["secrets", "rotate", "../accounts"], ROTATED)
    assert client.requests == [("POST", "/ops/v1/secrets/..%2Faccounts/rotate")]  # one path segment, whatever typed
    out = capsys.readouterr().out
    assert "password_v3" in out and "previous (still verifies)  password_v2" in out


def test_rotate_needs_a_name() -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--profile", "alice", "secrets", "rotate"])
