"""`switchboard` without a stack: its options and exit codes, where the API key is kept, and what it prints."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from switchboard_cli import credentials, messages, output
from switchboard_cli import main as cli
from switchboard_cli.client import Answer, Client, Problem, UsageError, checked_url

URL = "http://127.0.0.1:8080"
KEY = "sb_test_0123456789abcdefghijklmnop"  # pragma: allowlist secret - a made-up key


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps passwords in a dict (the OS keyring's contract, without an OS)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(credentials.ENV_KEY, raising=False)
    monkeypatch.delenv("SWITCHBOARD_API_URL", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def test_the_file_is_created_0600_in_a_0700_folder_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        where = credentials.save(URL, KEY, to_file=True)
    finally:
        os.umask(previous)
    path = credentials.credentials_file()
    assert str(path) in where
    assert path == tmp_path / "config" / "switchboard" / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = credentials.load(URL)
    assert loaded is not None
    assert (loaded.key, loaded.source) == (KEY, str(path))
    assert credentials.load("https://api.example.com") is None  # keys are per API URL
    assert KEY not in repr(loaded)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_file_others_can_read_is_refused_on_read(mode: int) -> None:
    credentials.save(URL, KEY, to_file=True)
    path = credentials.credentials_file()
    path.chmod(mode)
    with pytest.raises(UsageError, match="readable by others"):
        credentials.load(URL)


def test_a_symlink_in_the_files_place_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text(json.dumps({"keys": {URL: KEY}}))
    target.chmod(0o600)
    credentials.credentials_file().parent.mkdir(parents=True)
    credentials.credentials_file().symlink_to(target)
    with pytest.raises(UsageError, match="cannot read"):
        credentials.load(URL)


def test_without_a_keyring_login_refuses_unless_file_is_asked_for() -> None:
    assert credentials.usable_keyring() is None
    with pytest.raises(UsageError, match="--file"):
        credentials.save(URL, KEY, to_file=False)
    assert not credentials.credentials_file().exists()


def test_the_keyring_holds_the_key_per_api_url_and_logout_removes_it(memory: MemoryKeyring) -> None:
    where = f"the OS keyring ({memory.name})"
    assert credentials.save(URL, KEY, to_file=False) == where
    assert memory.entries == {(credentials.SERVICE, URL): KEY}
    assert not credentials.credentials_file().exists()  # nothing on disk
    loaded = credentials.load(URL)
    assert loaded is not None
    assert (loaded.key, loaded.source) == (KEY, where)
    assert credentials.remove(URL) == [where]
    assert memory.entries == {}
    assert credentials.load(URL) is None


def test_the_environment_variable_wins_over_the_keyring_and_the_file(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials.save(URL, KEY, to_file=False)
    credentials.save(URL, KEY + "file", to_file=True)
    monkeypatch.setenv(credentials.ENV_KEY, "sb_test_from_the_environment")
    loaded = credentials.load(URL)
    assert loaded is not None
    assert (loaded.key, loaded.source) == (
        "sb_test_from_the_environment",
        "the SWITCHBOARD_API_KEY environment variable",
    )
    monkeypatch.delenv(credentials.ENV_KEY)
    loaded = credentials.load(URL)
    assert loaded is not None
    assert loaded.key == KEY  # then the keyring, before the file


def test_logout_removes_the_key_from_the_file_and_says_where(capsys: pytest.CaptureFixture[str]) -> None:
    credentials.save(URL, KEY, to_file=True)
    credentials.save("https://api.example.com", KEY, to_file=True)
    assert cli.main(["--api-url", URL, "logout"]) == 0
    out = capsys.readouterr().out
    assert str(credentials.credentials_file()) in out
    assert KEY not in out
    assert credentials.load(URL) is None
    assert credentials.load("https://api.example.com") is not None
    assert cli.main(["--api-url", "https://api.example.com", "logout"]) == 0
    assert not credentials.credentials_file().exists()  # the last key gone: no file left


@pytest.mark.parametrize("typed", ["", "   ", "sb test with spaces", "sb_\x1b[31m_escape", "short"])
def test_a_key_that_cannot_be_a_credential_is_refused(typed: str) -> None:
    with pytest.raises(UsageError, match="not an API key"):
        credentials.checked_key(typed)


def test_login_reads_the_key_from_stdin_and_refuses_a_bad_one_before_any_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not a key\n"))
    assert cli.main(["login", "--api-key-stdin"]) == 2
    assert "not an API key" in capsys.readouterr().err


USERINFO_URL = "http://user:pw@api.example.com"  # pragma: allowlist secret - a URL with credentials, refused


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "file:///etc/passwd", USERINFO_URL, "https://api.example.com/?k=1"])
def test_an_api_url_that_could_leak_or_misroute_the_key_is_refused(url: str) -> None:
    with pytest.raises(UsageError):
        checked_url(url)
    assert checked_url("https://api.example.com/") == "https://api.example.com"


def test_a_command_without_a_stored_key_says_how_to_log_in(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["messages", "list"]) == 2
    assert "switchboard login" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send", "--channel", "sms", "--body", "hi"], "--to"),
        (["send", "--to", "+14155550101", "--recipient", "rcp_1", "--channel", "sms", "--body", "x"], "not allowed"),
        (["send", "--to", "+14155550101", "--channel", "fax", "--body", "x"], "invalid choice"),
        (["send", "--to", "+14155550101", "--channel", "sms"], "--body, --template or --media"),
        (["send", "--to", "+14155550101", "--channel", "whatsapp", "--body", "x", "--template", "t"], "not both"),
        (["send", "--to", "+14155550101", "--channel", "whatsapp", "--template", "t"], "--language"),
        (["send", "--to", "+14155550101", "--channel", "sms", "--body", "x", "--idempotency-key", "a b"], "printable"),
        (["messages", "get", "../account"], "not a message id"),
        (["messages", "list", "--limit", "0"], "--limit"),
        (["messages"], "required"),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_request(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(credentials.ENV_KEY, KEY)  # a key, so only the options can be at fault
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        status = int(exit_.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err


def test_send_builds_the_body_the_api_takes_from_the_options() -> None:
    args = cli.parser().parse_args(
        [
            *("send", "--to", "+14155550101", "--channel", "whatsapp", "--template", "order_ready"),
            *("--language", "en_US", "--param", "Ada", "--param", "42", "--media", "fil_" + "a" * 26),
            *("--validity", "600"),
        ]
    )
    assert messages._body(args) == {
        "channel": "whatsapp",
        "to": "+14155550101",
        "template": {"name": "order_ready", "language": "en_US", "parameters": ["Ada", "42"]},
        "media": ["fil_" + "a" * 26],
        "validity_s": 600,
    }


class Pages:
    """GET /v1/messages as the API pages it: newest first, at most `limit` (≤ 100) a page, with a cursor."""

    def __init__(self, total: int) -> None:
        self.items = [
            {
                "id": f"msg_{n:04d}",
                "to": "+14155550101",
                "channel": "sms",
                "status": "delivered",
                "created_at": f"2026-12-03T10:{n // 60:02d}:{n % 60:02d}Z",
            }
            for n in range(total, 0, -1)
        ]
        self.asked: list[dict[str, str]] = []

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        query = dict(query or {})
        self.asked.append(query)
        start = int(query.get("cursor", "0"))
        limit = int(query["limit"])
        assert 1 <= limit <= 100
        page = self.items[start : start + limit]
        more = start + limit < len(self.items)
        return Answer(200, {}, {"data": page, "next_cursor": str(start + limit) if more else None})


def test_messages_list_follows_cursors_to_the_limit_and_keeps_the_apis_shape(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = Pages(250)
    monkeypatch.setattr(messages, "client_for", lambda args: api)
    assert cli.main(["messages", "list", "--limit", "130", "--json", "--channel", "sms"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in shown["data"]] == [f"msg_{n:04d}" for n in range(250, 120, -1)]
    assert shown["next_cursor"] == "130"
    assert [(q["limit"], q.get("cursor"), q["channel"]) for q in api.asked] == [
        ("100", None, "sms"),
        ("30", "100", "sms"),
    ]
    assert cli.main(["messages", "list", "--all"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "TO", "CHANNEL", "STATUS", "CREATED"]
    assert len(table) == 251
    assert table[1].split() == ["msg_0250", "+14155550101", "sms", "delivered", "2026-12-03T10:04:10Z"]


def test_a_problem_is_printed_as_title_detail_and_pointers_on_stderr() -> None:
    refused = Problem(
        422,
        {
            "title": "Validation failed",
            "detail": "Invalid fields.",
            "code": "validation_failed",
            "request_id": "req-1",
            "errors": [{"pointer": "/to", "message": "not E.164"}, {"pointer": "/body", "message": "too long"}],
        },
    )
    err = io.StringIO()
    output.problem(refused, err)
    assert err.getvalue().splitlines() == [
        "error: Validation failed: Invalid fields.",
        "  /to: not E.164",
        "  /body: too long",
        "  (status 422, code validation_failed, request req-1)",
    ]


def test_terminal_escapes_from_the_api_never_reach_the_terminal() -> None:
    assert output.text("hi\x1b[2Jthere\n") == "hi?[2Jthere?"


def test_waits_out_a_rate_limit_as_retry_after_says(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    client = Client(URL, KEY, sleep=slept.append)
    answers: list[Answer | Problem] = [
        Problem(429, {"title": "Too many requests"}, "2"),
        Problem(409, {"title": "In progress"}, "1"),
        Answer(201, {}, {"id": "rcp_1"}),
    ]

    def send(url: str, method: str, data: bytes | None, headers: dict[str, str]) -> Answer:
        assert headers["Authorization"] == f"Bearer {KEY}"
        assert KEY not in url
        answer = answers.pop(0)
        if isinstance(answer, Problem):
            raise answer
        return answer

    monkeypatch.setattr(client, "_send", send)
    assert client.request("POST", "/v1/recipients", {"phone": "+1"}, idempotency_key="k").body == {"id": "rcp_1"}
    assert (slept, client.waited) == ([2.0, 1.0], 2)
    monkeypatch.setattr(client, "_send", lambda *a: (_ for _ in ()).throw(Problem(409, {"title": "Conflict"})))
    with pytest.raises(Problem):  # a 409 without Retry-After is an answer, not a wait
        client.request("POST", "/v1/recipients", {"phone": "+1"}, idempotency_key="k")


class _Page(io.BytesIO):
    """What urlopen gives back for a 200 from something that is not the API (a proxy's or a portal's page)."""

    status = 200
    headers: dict[str, str] = {"Content-Type": "text/html"}  # noqa: RUF012 - read only


def test_a_2xx_that_is_not_json_is_told_as_not_the_api_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout: _Page(b"<html>Sign in to Wi-Fi</html>"))
    monkeypatch.setenv(credentials.ENV_KEY, KEY)
    assert cli.main(["messages", "list"]) == 1
    err = capsys.readouterr().err
    assert "not JSON: is it the Switchboard API?" in err
    assert "Traceback" not in err
