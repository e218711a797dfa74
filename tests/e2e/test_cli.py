"""The customers' `switchboard` CLI against `make dev`'s stack, as a subprocess: login, send, the message log, and a
1,000-row recipients import with 10 bad rows, stopped twice (Ctrl-C, then a kill) and resumed with nothing twice."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from switchboard_cli import importer
from tests.e2e.conftest import E2E_ENV, ROOT, LocalStack, free_port, port_is_free, start_stack
from tests.e2e.test_conversations import _signup, call, wait_for

pytestmark = pytest.mark.e2e
ROWS = 1000
IMPORT_TIMEOUT_S = 600
# Measured on a loaded 2-core box: with a thousand recipients in it, the stack took 35-60 s to stop on Ctrl-C (its
# RSS grew from 2.4 to 3.2 GB meanwhile), past the 30 s the shared `stack` fixture allows. The import therefore runs
# on a stack of its own, which must still stop cleanly (exit 0), only with more time.
OWN_STACK_STOP_S = 180


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack for the 1,000-row import alone, so the other e2e tests of this worker share none of its data."""
    running = start_stack(tmp_path_factory.mktemp("cli-import-stack"), env=E2E_ENV)
    try:
        running.wait_ready()
        yield running
    finally:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGINT)
            try:
                code = running.process.wait(timeout=OWN_STACK_STOP_S)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
                raise
            assert code == 0, running.log()[-3000:]
    assert port_is_free(running.port)


def cli_env(stack: LocalStack, home: Path, key: str | None = None) -> dict[str, str]:
    """The CLI's environment: this stack, a fresh config folder, and never the machine's own keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_API_URL=stack.base_url,
        XDG_CONFIG_HOME=str(home / "config"),
        HOME=str(home),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # a CI box has no keyring: the --file path
    )
    if key is not None:
        env["SWITCHBOARD_API_KEY"] = key
    return env


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard_cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )


def test_login_send_and_read_the_message_log(stack: LocalStack, tmp_path: Path) -> None:
    key = _signup(stack)["developer"]
    env = cli_env(stack, tmp_path)
    refused = run(env, "login", "--api-key-stdin", stdin=key + "\n")
    assert (refused.returncode, "--file" in refused.stderr) == (2, True), refused  # no keyring here: not silently
    wrong = run(env, "login", "--api-key-stdin", "--file", stdin="sb_test_not_a_real_key_at_all\n")
    assert (wrong.returncode, "refused this key" in wrong.stderr) == (2, True), wrong
    assert not (tmp_path / "config").exists()  # nothing stored for a refused key
    logged = run(env, "login", "--api-key-stdin", "--file", stdin=key + "\n")
    assert logged.returncode == 0, logged
    stored = tmp_path / "config" / "switchboard" / "credentials"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert key not in logged.stdout + logged.stderr

    phone = "+14155550142"
    rid = call(stack, key, "POST", "/v1/recipients", {"phone": phone}).json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call(stack, key, "POST", f"/v1/recipients/{rid}/consents", consent).status == 201
    sent = run(env, "--verbose", "send", "--to", phone, "--channel", "sms", "--body", "Your table is ready", "--json")
    assert sent.returncode == 0, sent
    message = json.loads(sent.stdout)
    assert (message["status"], message["to"], message["channel"]) == ("queued", phone, "sms")
    used = next(line.split(": ", 1)[1] for line in sent.stderr.splitlines() if line.startswith("Idempotency-Key: "))
    again = run(
        env, "send", "--to", phone, "--channel", "sms", "--body", "Your table is ready", "--idempotency-key", used
    )
    assert again.returncode == 0, again
    assert again.stdout.startswith(f"queued {message['id']}") or message["id"] in again.stdout
    assert "replayed" in again.stdout  # the same key: the first answer, nothing sent twice
    not_opted = run(env, "send", "--to", "+14155550143", "--channel", "sms", "--body", "hi")
    assert not_opted.returncode == 1
    assert not_opted.stderr.startswith("error: Consent required: ")
    assert "Traceback" not in not_opted.stderr

    delivered = wait_for(stack, key, message["id"], "delivered")
    listed = run(env, "messages", "list", "--json", "--channel", "sms")
    assert listed.returncode == 0, listed
    assert json.loads(listed.stdout) == call(stack, key, "GET", "/v1/messages?channel=sms&limit=25").json()
    got = run(env, "messages", "get", message["id"], "--json")
    assert json.loads(got.stdout) == delivered
    shown = run(env, "messages", "get", message["id"]).stdout
    assert "timeline:" in shown
    assert "sandbox-a accepted" in shown
    assert "delivered" in shown.split("timeline:")[1]
    table = run(env, "messages", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "TO", "CHANNEL", "STATUS", "CREATED"]
    assert table[1].split()[:4] == [message["id"], phone, "sms", "delivered"]
    missing = run(env, "messages", "get", "msg_01nosuchmessage0000000000")
    assert (missing.returncode, missing.stderr.startswith("error: ")) == (1, True)

    nobody = {**env, "SWITCHBOARD_API_URL": f"http://127.0.0.1:{free_port()}", "SWITCHBOARD_API_KEY": key}
    down = run(nobody, "messages", "list")
    assert (down.returncode, "cannot reach" in down.stderr, "Traceback" in down.stderr) == (1, True, False)
    out = run(env, "logout")
    assert (out.returncode, stored.exists()) == (0, False)
    assert run(env, "messages", "list").returncode == 2  # logged out: told to log in


def _phone(n: int) -> str:
    return f"+1415555{2000 + n:04d}"


def _defects() -> dict[int, Callable[[list[str]], None]]:
    """Ten ways a row is wrong, by data row index (row number minus 2)."""

    def setting(index: int, *values: str) -> Callable[[list[str]], None]:
        return lambda fields: fields.__setitem__(slice(index, index + len(values)), list(values))

    return {
        17: lambda fields: fields.__setitem__(0, fields[0][2:]),  # no + and country code
        101: setting(0, "+1 415 555 2101"),  # spaces
        202: setting(0, "+15555550123"),  # no such area code
        333: setting(0, _phone(3)),  # row 5's number again
        404: setting(2, "sms", "", "2026-11-02T09:30:00Z"),  # consent without its text version
        505: setting(2, "sms", "v1", "2026-11-02T09:30:00"),  # a capture time without an offset
        606: setting(2, "fax", "v1", "2026-11-02T09:30:00Z"),
        707: setting(1, "G\udcfcest"),  # a Latin-1 byte (written below), not UTF-8
        808: lambda fields: fields.append("surprise"),  # one field too many
        909: setting(1, "n" * 201),  # a name over 200 characters
    }


def import_file(path: Path) -> tuple[set[str], set[str], list[int]]:
    """1,000 rows (BOM, CRLF) of which 10 are bad in 10 ways; every 10th good row opted in on SMS with evidence.
    Returns the good phones, those opted in, and the bad rows' numbers (the header is row 1)."""
    defects = _defects()
    lines = [b"\xef\xbb\xbfphone,name,channels,consent_text_version,consent_captured_at"]
    good: set[str] = set()
    opted: set[str] = set()
    for n in range(ROWS):
        phone, channels = _phone(n), ("sms" if n % 10 == 0 else "")
        evidence = ["terms-v3", "2026-11-02T09:30:00Z"] if channels else ["", ""]
        fields = [phone, f"Guest {n}", channels, *evidence]
        if n in defects:
            defects[n](fields)
        else:
            good.add(phone)
            if channels:
                opted.add(phone)
        lines.append(",".join(fields).encode("utf-8", errors="surrogateescape"))
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return good, opted, sorted(n + 2 for n in defects)


def _done_rows(state: Path) -> int:
    journals = list(state.glob("*.import-journal"))
    if not journals:
        return 0
    return journals[0].read_text(errors="replace").count('"done": true')


def _start_and_stop(env: dict[str, str], args: Sequence[str], state: Path, at_least: int, how: signal.Signals) -> int:
    """Run the import until the journal holds `at_least` done rows, then send `how`; its exit code."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard_cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    while _done_rows(state) < at_least and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the import ended before it could be interrupted"
    process.send_signal(how)
    return process.wait(timeout=60)


def _all_recipients(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = call(stack, key, "GET", f"/v1/recipients?limit=100{cursor}").json()
        found += page["data"]
        if not page.get("next_cursor"):
            return found
        cursor = f"&cursor={page['next_cursor']}"


def test_import_of_1000_rows_with_10_bad_resumes_after_ctrl_c_and_a_kill_creating_nothing_twice(
    own_stack: LocalStack, tmp_path: Path
) -> None:
    stack = own_stack
    key = _signup(stack)["developer"]
    env = cli_env(stack, tmp_path, key)
    path, state = tmp_path / "guests.csv", tmp_path / "state"
    good, opted, bad_rows = import_file(path)
    args = ["recipients", "import", str(path), "--state", str(state), "--json"]

    # A row whose answer was lost: its request reached the API with the key the CLI derives, and nothing came back.
    sha = importer.parse(path.read_bytes()).sha256
    lost_row = 950
    body = {"phone": _phone(lost_row - 2), "name": f"Guest {lost_row - 2}"}
    lost = stack.request(
        "POST",
        "/v1/recipients",
        body,
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": importer.idempotency_key(sha, lost_row, "recipient"),
        },
    )
    assert lost.status == 201, lost.text

    assert _start_and_stop(env, args, state, 150, signal.SIGINT) == 130  # Ctrl-C: told, journal closed
    after_ctrl_c = _done_rows(state)
    assert _start_and_stop(env, args, state, after_ctrl_c + 150, signal.SIGKILL) == -signal.SIGKILL  # a crash
    finished = run(env, *args)
    assert finished.returncode == 1, finished.stderr  # 1: ten rows were not imported
    report = json.loads(finished.stdout)
    assert sorted(bad["row"] for bad in report["invalid"]) == bad_rows
    assert {bad["column"] for bad in report["invalid"]} >= {"phone", "name", "channels", "consent_captured_at"}
    assert (report["failed"], report["stopped"], report["rows"], report["valid"]) == ([], None, ROWS, ROWS - 10)
    assert report["imported"] + report["already_done"] == ROWS - 10
    assert report["already_done"] >= after_ctrl_c + 150
    assert report["replayed"] >= 1  # at least the lost answer's row, replayed by the API instead of created again

    recipients = _all_recipients(stack, key)
    assert len(recipients) == ROWS - 10
    assert {r["phone"] for r in recipients} == good  # each good row exactly once, no bad row
    assert {r["phone"] for r in recipients if r["consent"]["sms"] == "opted_in"} == opted
    journal = next(state.glob("*.import-journal")).read_text()
    journaled = {json.loads(line)["recipient_id"] for line in journal.splitlines() if '"recipient_id"' in line}
    assert journaled == {r["id"] for r in recipients}

    rerun = run(env, *args)  # everything is done: nothing is sent again
    again = json.loads(rerun.stdout)
    assert (again["imported"], again["already_done"], again["replayed"]) == (0, ROWS - 10, 0)
    assert len(_all_recipients(stack, key)) == ROWS - 10
