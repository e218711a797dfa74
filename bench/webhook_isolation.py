"""Webhook isolation benchmark (printed, not asserted): another account's latency while one account's receiver drips.

The callback worker runs in-process under moto, one batch at a time (one worker: the worst case, as the local stack
runs it), with the deployed deadline (5 s). A producer publishes, every 0.5 s, three events for account "slow",
whose endpoint answers one byte every 2 s (the issue's attack), and one for account "other", whose endpoint answers
at once. Latency is the time from publishing an event to its arrival at the receiver.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.lambda_context import Context

DURATION_S = 30.0
EVERY_S = 0.5
SLOW_PER_TICK = 3
DRIP_EVERY_S = 2.0


def drip_server(stop: threading.Event) -> tuple[str, list[float]]:
    """A receiver that answers one byte every DRIP_EVERY_S, forever; records each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[float] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"x" * 10_000:
                    if stop.wait(DRIP_EVERY_S):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(time.monotonic())
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hook", connections


def good_server() -> tuple[ThreadingHTTPServer, str, dict[str, float]]:
    arrivals: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrivals[json.loads(body)["data"]["message_id"]] = time.monotonic()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals


def main() -> None:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",  # pragma: allowlist secret - moto's dummy credentials
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "SwitchboardBench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "STAGE": "local",
        }
    )
    import boto3  # noqa: PLC0415 - after the environment above
    from moto import mock_aws  # noqa: PLC0415

    from local import provision  # noqa: PLC0415
    from switchboard import catalog, settings  # noqa: PLC0415
    from switchboard.dal import clients  # noqa: PLC0415

    names = {t.env: f"bench-{t.id}" for t in catalog.TABLES}
    os.environ.update(names)
    with mock_aws():
        clients.reset()
        provision.create_tables(
            boto3.client("dynamodb"),
            [provision.create_table_request(spec, names[spec.env]) for spec in catalog.TABLES],
            catalog.TABLES,
        )
        os.environ["DATA_KEY_ID"] = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        sqs = boto3.client("sqs")
        spec = catalog.queue("Callbacks")
        urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests([spec])}
        queue_url = urls[provision.queue_name(spec)]
        os.environ[spec.env] = queue_url
        settings.reload()
        deadline = settings.get().webhook_timeout_s

        stop = threading.Event()
        slow_url, connections = drip_server(stop)
        server, good_url, arrivals = good_server()
        for account_id, url in (("acct_slow", slow_url), ("acct_other", good_url)):
            add_endpoint(account_id, url)
        latencies, batches = drive(sqs, queue_url, arrivals)
        stop.set()
        server.shutdown()

    report(deadline, len(connections), latencies, batches)


def deliver(messages: list[Any]) -> float:
    """One batch through the callback worker, as the event source hands it over; its duration."""
    from functions.callback_worker import handler as worker  # noqa: PLC0415 - after main() set the environment
    from local.workers import sqs_event  # noqa: PLC0415

    started = time.monotonic()
    worker.lambda_handler(sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context())
    return time.monotonic() - started


def drive(sqs: Any, queue_url: str, arrivals: dict[str, float]) -> tuple[list[float], list[float]]:
    """Publish for DURATION_S while one worker consumes; each 'other' event's latency, each batch's duration."""
    from switchboard.logic import webhooks  # noqa: PLC0415 - after main() set the environment

    # Warm-up: the worker's first batch pays moto's lazy imports and first KMS calls (a cold start), not timed.
    webhooks.publish("acct_other", "message.status", {"message_id": "warm", "status": "sent"})
    deliver(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"])
    arrivals.clear()
    published: dict[str, float] = {}
    batches: list[float] = []

    def produce() -> None:
        n = 0
        until = time.monotonic() + DURATION_S
        while time.monotonic() < until:
            for _ in range(SLOW_PER_TICK):
                webhooks.publish("acct_slow", "message.status", {"message_id": f"slow_{n}", "status": "sent"})
                n += 1
            message_id = f"other_{n}"
            published[message_id] = time.monotonic()
            webhooks.publish("acct_other", "message.status", {"message_id": message_id, "status": "sent"})
            n += 1
            time.sleep(EVERY_S)

    producer = threading.Thread(target=produce)
    producer.start()
    while producer.is_alive() or set(published) - set(arrivals):
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if got:
            batches.append(deliver(got))
    return sorted(arrivals[m] - published[m] for m in published), batches


def add_endpoint(account_id: str, url: str) -> None:
    """The account's data key and one endpoint subscribed to message.status, as the API stores it."""
    from switchboard import clock  # noqa: PLC0415 - after main() set the environment
    from switchboard.crypto import envelope  # noqa: PLC0415
    from switchboard.dal import webhooks as webhooks_dal  # noqa: PLC0415

    envelope.create_key(account_id)
    webhooks_dal.put_endpoint(
        webhooks_dal.new_endpoint(
            account_id,
            "whe_1",
            url=url,
            events={"message.status"},
            secret="whsec_b",  # noqa: S106 - a bench secret  # pragma: allowlist secret
            created_by="usr_bench",
            created_at=int(clock.timestamp()),
        ),
        cap=10,
    )


def report(deadline: float, connections: int, latencies: list[float], batches: list[float]) -> None:
    """Print the figures."""
    print(f"webhook isolation: deadline {deadline:.1f} s, one worker, {DURATION_S:.0f} s of traffic")
    print(f"  account 'slow': receiver drips 1 byte / {DRIP_EVERY_S:.0f} s; {connections} connections reached it")
    print(f"  account 'other': {len(latencies)} events")
    print(f"    latency p50 {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"  batches: {len(batches)}, p50 {statistics.median(batches):.2f} s, max {max(batches):.2f} s")


if __name__ == "__main__":
    main()
