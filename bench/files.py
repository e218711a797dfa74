"""File throughput through the local stack: a 10 MB presigned upload (PUT + complete), the same file read back in
4 MiB ranges, and a 4 MiB direct upload; prints MB/s (median of a few runs)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3
SIZE = 10 * 1000 * 1000
RANGE = 4 * 1024 * 1024
PASSWORD = "lantern quasar velvet plumbing"  # noqa: S105 # pragma: allowlist secret - the benchmark user, local only
STARTUP_TIMEOUT_S = 60.0
PDF_HEAD = b"%PDF-1.4\n% switchboard file benchmark\n"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Stack:
    """`python -m local` on a free port, spoken to over HTTP."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.log = directory / "stderr.txt"
        self.token = ""
        env = {**os.environ, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        with (directory / "stdout.txt").open("wb") as out, self.log.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=out, stderr=err)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token and url.startswith("/") else {}
        if body is not None:
            data, merged["Content-Type"] = json.dumps(body).encode(), "application/json"
        merged.update(headers or {})
        target = f"http://127.0.0.1:{self.port}{url}" if url.startswith("/") else url
        if not target.startswith("http://127.0.0.1:"):  # the stack, or the presigned URL of its moto S3
            raise SystemExit(f"not a local URL: {target}")
        request = urllib.request.Request(target, data, merged, method=method)  # noqa: S310 - http://127.0.0.1 only
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - always http://127.0.0.1
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, _, raw = self.request(method, path, body=body)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the local stack exited:\n{self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the local stack did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_in(self) -> None:
        email = f"bench-{os.getpid()}@example.com"
        self.json("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": "Bench"})
        token = next(m["token"] for m in self.json("GET", "/_local/outbox")["data"] if m["to"] == email)
        self.json("POST", "/v1/email-verifications", {"token": token})
        self.token = self.json("POST", "/v1/sessions", {"email": email, "password": PASSWORD})["token"]


def mb_per_s(size: int, seconds: float) -> float:
    return size / 1e6 / seconds


def run(stack: Stack, data: bytes) -> tuple[float, float, float]:
    """One upload (announce, PUT, complete) and read-back in ranges; seconds of each part."""
    started = time.perf_counter()
    announced = stack.json("POST", "/v1/files", {"content_type": "application/pdf", "size": len(data)})
    upload = announced["upload"]
    status, _, _ = stack.request("PUT", upload["url"], data=data, headers=upload["headers"])
    if status != 200:
        raise SystemExit(f"PUT to the presigned URL: {status}")
    put_done = time.perf_counter()
    stack.json("POST", f"/v1/files/{announced['id']}/complete")
    completed = time.perf_counter()
    read = b""
    while len(read) < len(data):
        status, _, part = stack.request(
            "GET",
            f"/v1/files/{announced['id']}/content",
            headers={"Range": f"bytes={len(read)}-{len(read) + RANGE - 1}"},
        )
        if status != 206:
            raise SystemExit(f"range read: {status}")
        read += part
    finished = time.perf_counter()
    if read != data:
        raise SystemExit("the file read back differs")
    stack.request("DELETE", f"/v1/files/{announced['id']}")
    return put_done - started, completed - put_done, finished - completed


def direct(stack: Stack, data: bytes) -> float:
    """Seconds of one direct upload (the bytes as the body)."""
    started = time.perf_counter()
    status, _, raw = stack.request("POST", "/v1/files", data=data, headers={"Content-Type": "application/pdf"})
    elapsed = time.perf_counter() - started
    if status != 201:
        raise SystemExit(f"direct upload: {status} {raw[:300]!r}")
    stack.request("DELETE", f"/v1/files/{json.loads(raw)['id']}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        stack = Stack(Path(directory))
        try:
            stack.wait_ready()
            stack.log_in()
            data = PDF_HEAD + os.urandom(SIZE - len(PDF_HEAD))
            runs = [run(stack, data) for _ in range(RUNS)]
            small = PDF_HEAD + os.urandom(4 * 1024 * 1024 - len(PDF_HEAD))
            directs = [direct(stack, small) for _ in range(RUNS)]
        finally:
            stack.stop()
    put, complete, read = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"files: a {SIZE / 1e6:.0f} MB file through the local stack (median of {RUNS})")
    print(f"  presigned PUT to S3 (moto)       {mb_per_s(SIZE, put):7.1f} MB/s  ({put * 1000:.0f} ms)")
    print(f"  complete (read, sniff, seal, put) {mb_per_s(SIZE, complete):7.1f} MB/s  ({complete * 1000:.0f} ms)")
    print(f"  upload end to end                {mb_per_s(SIZE, put + complete):7.1f} MB/s")
    print(f"  read back in 4 MiB ranges        {mb_per_s(SIZE, read):7.1f} MB/s  ({read * 1000:.0f} ms)")
    seconds = statistics.median(directs)
    print(f"  direct upload of 4 MiB           {mb_per_s(len(small), seconds):7.1f} MB/s  ({seconds * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
