"""File throughput through the local stack: a 10 MB presigned upload (PUT + complete), the same file read back in
4 MiB ranges, and a 4 MiB direct upload; prints MB/s (median of a few runs)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import login_latency

RUNS = 3
SIZE = 10 * 1000 * 1000
RANGE = 4 * 1024 * 1024
PDF_HEAD = b"%PDF-1.4\n% switchboard file benchmark\n"


class Stack(login_latency.Stack):
    """The local stack (bench.login_latency's), spoken to with a session and raw bodies."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.token = ""

    def call(
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
        status, _, raw = self.call(method, path, body=body)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def log_in(self) -> None:
        email = f"bench-{os.getpid()}@example.com"
        self.json("POST", "/v1/signup", {"email": email, "password": login_latency.PASSWORD, "account_name": "Bench"})
        token = next(m["token"] for m in self.json("GET", "/_local/outbox")["data"] if m["to"] == email)
        self.json("POST", "/v1/email-verifications", {"token": token})
        self.token = self.json("POST", "/v1/sessions", {"email": email, "password": login_latency.PASSWORD})["token"]


def mb_per_s(size: int, seconds: float) -> float:
    return size / 1e6 / seconds


def run(stack: Stack, data: bytes) -> tuple[float, float, float]:
    """One upload (announce, PUT, complete) and read-back in ranges; seconds of each part."""
    started = time.perf_counter()
    announced = stack.json("POST", "/v1/files", {"content_type": "application/pdf", "size": len(data)})
    upload = announced["upload"]
    status, _, _ = stack.call("PUT", upload["url"], data=data, headers=upload["headers"])
    if status != 200:
        raise SystemExit(f"PUT to the presigned URL: {status}")
    put_done = time.perf_counter()
    stack.json("POST", f"/v1/files/{announced['id']}/complete")
    completed = time.perf_counter()
    read = b""
    while len(read) < len(data):
        status, _, part = stack.call(
            "GET",
            f"/v1/files/{announced['id']}/content",
            # Deployed and locally, API Gateway decodes the bytes only for an Accept naming a binary type.
            headers={"Range": f"bytes={len(read)}-{len(read) + RANGE - 1}", "Accept": "application/octet-stream"},
        )
        if status != 206:
            raise SystemExit(f"range read: {status}")
        read += part
    finished = time.perf_counter()
    if read != data:
        raise SystemExit("the file read back differs")
    stack.call("DELETE", f"/v1/files/{announced['id']}")
    return put_done - started, completed - put_done, finished - completed


def direct(stack: Stack, data: bytes) -> float:
    """Seconds of one direct upload (the bytes as the body)."""
    started = time.perf_counter()
    status, _, raw = stack.call("POST", "/v1/files", data=data, headers={"Content-Type": "application/pdf"})
    elapsed = time.perf_counter() - started
    if status != 201:
        raise SystemExit(f"direct upload: {status} {raw[:300]!r}")
    stack.call("DELETE", f"/v1/files/{json.loads(raw)['id']}")
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
