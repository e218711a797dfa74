"""Cold start of every catalog handler: import and first request in a fresh interpreter, beside a bare boto3 import."""

from __future__ import annotations

import collections
import json
import logging
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "shared" / "python"))

from local import gateway, provision, scheduler  # noqa: E402 - the shared package must be importable first
from local.workers import sqs_event  # noqa: E402
from switchboard import catalog, files  # noqa: E402

RUNS = 3  # fresh interpreters per handler (medians); rounds interleave the handlers so load hits all alike
BASELINE_RUNS = 3
GOAL = 1.5  # a handler may cost at most 1.5x a bare `import boto3`
AUTHORIZER_GOAL = 1.0  # it runs before every authenticated request: a DynamoDB client, hashing, a policy document
TOP = 4  # import costs shown per handler

MINIMAL_POWERTOOLS = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
app = APIGatewayRestResolver()
@app.get("/ping")
def ping():
    return {"ok": True}
def lambda_handler(event, context):
    return app.resolve(event, context)
"""

# Runs in the fresh interpreter: times the import, then one invocation with the event on stdin. CPU time of this
# process is the measure (the machine is shared: wall time also counts the neighbours); wall time is shown beside.
CHILD = """
import json, sys, time
event = json.loads(sys.stdin.read())
class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + {name!r}
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10000
c0, w0 = time.process_time(), time.perf_counter()
{code}
c1, w1 = time.process_time(), time.perf_counter()
outcome = "-"
if event is not None:
    try:
        result = handler.lambda_handler(event, Context())
        if isinstance(result, dict) and "statusCode" in result:
            outcome = str(result["statusCode"])
        elif isinstance(result, dict) and "batchItemFailures" in result:
            outcome = f"{{len(result['batchItemFailures'])}} failed"
        elif isinstance(result, dict) and "policyDocument" in result:
            outcome = "Allow"
        else:
            outcome = "ok"
    except Exception as error:
        outcome = f"raised {{str(error)[:24] or type(error).__name__}}"
c2, w2 = time.process_time(), time.perf_counter()
print(json.dumps({{"import": [c1 - c0, w1 - w0], "first": [c2 - c1, w2 - w1], "outcome": outcome}}))
"""


@dataclass
class Target:
    """One thing measured: code run in a fresh interpreter, and the event of its first request (None: none)."""

    label: str
    code: str
    function: catalog.Function | None = None
    event: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    def median(self, phase: str, index: int) -> float:
        """Median seconds of one phase ("import" or "first"), CPU (0) or wall (1)."""
        return float(statistics.median(s[phase][index] for s in self.samples))


def authorizer_context() -> dict[str, str]:
    """What the authorizer hands an authenticated route: an owner's session."""
    return {
        "account_id": "acct_bench",
        "principal": "usr_bench",
        "role": "owner",
        "credential": "session",
        "session_id": "ses_bench",
        "key_id": "",
        "plan": "free",
        "mode": "test",
        "auth_at": "0",
        "refusal": "",
    }


def api_event(method: str, template: str, *, authorizer: bool) -> dict[str, Any]:
    """The REST proxy event of a route (path parameters filled with an id that exists nowhere)."""
    params = {part[1:-1]: "bench_missing" for part in template.split("/") if part.startswith("{")}
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    headers = [("Accept", "application/json"), ("User-Agent", "bench")]
    body = b""
    if method in {"POST", "PUT", "PATCH"}:
        headers.append(("Content-Type", "application/json"))
        body = b"{}"
    if not authorizer and template == "/v1/account":  # the authorizer's own event: a session token nobody holds
        headers.append(("Authorization", "Bearer sbs_" + "A" * 43))
    request = gateway.Request(method, path, headers, body)
    event = gateway.proxy_event(request, catalog.api_resource(template), params, 0, files.binary_types(template))
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer_context()
    return event


def representative_event(function: catalog.Function) -> dict[str, Any]:
    """A first request each function meets in production, against empty tables: a read route (GET without path
    parameters first), a session check, a scheduled run, or one queue record that does not parse."""
    if function.name == catalog.AUTHORIZER:
        return gateway.authorizer_event(api_event("GET", "/v1/account", authorizer=False))
    if function.routes:
        route = sorted(function.routes, key=lambda r: (r.method != "GET", "{" in r.path, r.path))[0]
        return api_event(route.method, route.path, authorizer=route.auth != catalog.Auth.PUBLIC)
    if function.schedule is not None:
        return scheduler.scheduled_event(function.schedule)
    record = {
        "MessageId": "00000000-0000-0000-0000-000000000001",
        "ReceiptHandle": "bench",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
    }
    return sqs_event([record], provision.queue_arn(provision.queue_name(catalog.queue(function.consumes or ""))))


def run(target: Target, env: dict[str, str]) -> dict[str, Any]:
    """One fresh interpreter: import (and first request) seconds and the request's outcome."""
    name = target.function.name if target.function else "bench"
    code = CHILD.format(name=name, code=target.code)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        input=json.dumps(target.event),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"import"')]
    if out.returncode or not lines:
        raise RuntimeError(f"{target.label} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def import_costs(module: str, env: dict[str, str]) -> list[tuple[str, float]]:
    """`python -X importtime`: self time summed per top-level package (ours per module), largest first."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    totals: collections.Counter[str] = collections.Counter()
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.split(":", 1)[1].split("|")
        name = name.strip()
        package = name if name.startswith(("switchboard.", "functions.")) else name.split(".")[0]
        totals[package] += int(self_us)
    return [(package, us / 1000) for package, us in totals.most_common(TOP)]


def main() -> int:
    """Print the tables; exit 1 when a handler misses its goal (so `make bench` shows it plainly)."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - this process only: each handler runs in its own

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # Nothing listens on port 9: a function that calls the platform itself (the drift job) fails fast.
        provisioned = provision.provision(endpoint_url=f"http://{host}:{port}", public_base_url="http://127.0.0.1:9")
        return measure(provisioned)
    finally:
        server.stop()


def measure(provisioned: provision.Provisioned) -> int:
    """Measure every target in interleaved rounds, then print the tables and the goal check."""
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers/shared/python")]),
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": provision.REGION,
        **provisioned.env,
    }
    boto3 = Target("import boto3 (baseline)", "import boto3")
    powertools = Target("minimal Powertools REST handler", MINIMAL_POWERTOOLS)
    # Several catalog functions may share one code folder (the send workers): each folder is measured once.
    handlers: dict[str, Target] = {}
    for function in sorted(catalog.for_stage(provision.STAGE), key=lambda f: f.code):
        if function.code not in handlers:
            code = f"import functions.{function.code}.handler as handler"
            handlers[function.code] = Target(function.code, code, function, representative_event(function))
    envs = {code: {**base, **provisioned.environments[t.function.name]} for code, t in handlers.items() if t.function}
    for round_ in range(max(RUNS, BASELINE_RUNS)):
        if round_ < BASELINE_RUNS:
            for target in (boto3, powertools):
                target.samples.append(run(target, base))
        if round_ < RUNS:
            for code, target in handlers.items():
                target.samples.append(run(target, envs[code]))
    baseline = boto3.median("import", 0)
    print(f"Cold start, median of {RUNS} fresh interpreters ({BASELINE_RUNS} for the baselines), Python", end=" ")
    print(f"{sys.version.split()[0]}; CPU ms of the process (wall ms beside: the machine may be shared).\n")
    print(
        f"| {'module':<31} | {'import':>6} | {'x boto3':>7} | {'wall':>6} | {'1st req':>7} | {'wall':>6}"
        f" | {'both':>6} | outcome"
    )
    print(f"|{'-' * 33}|{'-' * 8}|{'-' * 9}|{'-' * 8}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 20}")
    misses = []
    for target in (boto3, powertools, *handlers.values()):
        ratio = target.median("import", 0) / baseline
        goal = AUTHORIZER_GOAL if target.function and target.function.name == catalog.AUTHORIZER else GOAL
        # both: import and first request of each interpreter (CPU), so a cost moved behind first use shows as moved.
        both = statistics.median(s["import"][0] + s["first"][0] for s in target.samples) * 1000
        first = f"{target.median('first', 0) * 1000:7.1f} | {target.median('first', 1) * 1000:6.0f} | {both:6.1f}"
        if target.event is None:
            first = f"{'':>7} | {'':>6} | {'':>6}"
        outcome = target.samples[0].get("outcome", "-") if target.event is not None else ""
        mark = " MISSED" if target.function and ratio > goal else ""
        print(
            f"| {target.label:<31} | {target.median('import', 0) * 1000:6.1f} | {ratio:7.2f} |"
            f" {target.median('import', 1) * 1000:6.0f} | {first} | {outcome}{mark}"
        )
        if mark:
            misses.append(f"{target.label} ({ratio:.2f}x > {goal}x)")
    print("\n1st req: one representative first invocation after the import, in the same interpreter, against moto")
    print("(a server in another process): a read route, a session check, a scheduled run, or one unparsable record.")
    print("Handlers import their logic (PynamoDB, botocore) with the first request, so 1st req includes that import:")
    print("'both' (import + 1st req, median per interpreter) is the cold start a first caller or batch waits for.")
    print(f"\nTop import costs (python -X importtime, self ms per package; ours per module; top {TOP}):\n")
    for code, target in handlers.items():
        costs = ", ".join(f"{name} {ms:.0f}" for name, ms in import_costs(f"functions.{code}.handler", envs[code]))
        print(f"- {target.label}: {costs}")
    print(
        f"\nGoal: every handler <= {GOAL}x bare boto3, the authorizer <= {AUTHORIZER_GOAL}x. "
        + (f"MISSED by {', '.join(misses)}" if misses else "Met.")
    )
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
