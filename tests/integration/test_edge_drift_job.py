"""R47 drift job: the real HTTP client against a loopback fake of Cloudflare's /ips; drift and failures are metrics."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from functions.edge_drift_job import handler
from switchboard import catalog, observability, settings
from switchboard.logic import edge_drift
from tests import loopback
from tests.integration.conftest import Context

DEPLOYED = json.loads(edge_drift.DEPLOYED_FILE.read_text())
JOB = next(fn.name for fn in catalog.FUNCTIONS if fn.schedule is catalog.EDGE_DRIFT)


def published(ipv4: list[Any] | None = None, ipv6: list[Any] | None = None) -> bytes:
    """Cloudflare's answer (as `GET /client/v4/ips` gives it) with these ranges (default: the deployed ones)."""
    result = {"ipv4_cidrs": DEPLOYED["ipv4"] if ipv4 is None else ipv4, "ipv6_cidrs": DEPLOYED["ipv6"]}
    if ipv6 is not None:
        result["ipv6_cidrs"] = ipv6
    result["etag"] = "fake"
    return json.dumps({"success": True, "errors": [], "messages": [], "result": result}).encode()


@dataclass
class FakeCloudflare:
    """Answers GET /client/v4/ips with `status`/`body` after `delay_s`; records the requests it got."""

    status: int = 200
    body: bytes = field(default_factory=published)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    state = FakeCloudflare()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.command, self.path))
            time.sleep(state.delay_s)
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            # The client may have given up (the timeout test): then there is nobody left to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with loopback.serving(Handler) as server:
        state.url = f"http://127.0.0.1:{server.server_address[1]}/client/v4/ips"
        yield state


@pytest.fixture
def job_env(fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("CLOUDFLARE_IPS_URL", fake.url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # Deployed, POWERTOOLS_SERVICE_NAME is the function's name (test_edge_waf checks it) and Powertools turns it
    # into the `service` dimension the alarms filter on; this process imported Powertools under another name.
    monkeypatch.setattr(observability.metrics.provider, "service", JOB)
    settings.reload()
    yield
    monkeypatch.delenv("CLOUDFLARE_IPS_URL")
    settings.reload()


def emitted_metrics(output: str) -> dict[str, float]:
    """The EMF metrics Powertools printed: name -> value (with the dimension the alarm filters on)."""
    values: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Dimensions"] == [["service"]]
            assert record["service"] == JOB
            assert directive["Namespace"]
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                values[metric["Name"]] = value[0] if isinstance(value, list) else value
    return values


def run_job(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, float]]:
    capsys.readouterr()
    report = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())  # type: ignore[arg-type]
    return report, emitted_metrics(capsys.readouterr().out)


@pytest.mark.usefixtures("job_env")
def test_same_ranges_report_no_drift_and_zero_metrics(fake: FakeCloudflare, capsys: pytest.CaptureFixture[str]) -> None:
    report, metrics = run_job(capsys)
    assert report == {"checked": True, "drift": False, "missing": [], "extra": [], "error": ""}
    assert metrics == {edge_drift.DRIFT_METRIC: 0, edge_drift.CHECK_FAILED_METRIC: 0}
    assert fake.requests == [("GET", "/client/v4/ips")]


@pytest.mark.usefixtures("job_env")
def test_a_newly_published_range_is_drift_with_an_alarm_metric(
    fake: FakeCloudflare, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.body = published(ipv4=[*DEPLOYED["ipv4"], "198.51.100.0/24"])
    report, metrics = run_job(capsys)
    assert report["drift"] is True
    assert report["missing"] == ["198.51.100.0/24"]
    assert report["extra"] == []
    assert metrics == {edge_drift.DRIFT_METRIC: 1, edge_drift.CHECK_FAILED_METRIC: 0}


@pytest.mark.usefixtures("job_env")
def test_a_withdrawn_range_is_drift_too(fake: FakeCloudflare, capsys: pytest.CaptureFixture[str]) -> None:
    withdrawn = DEPLOYED["ipv6"][-1]
    fake.body = published(ipv6=DEPLOYED["ipv6"][:-1])
    report, metrics = run_job(capsys)
    assert report["extra"] == [withdrawn]
    assert report["missing"] == []
    assert metrics[edge_drift.DRIFT_METRIC] == 1


@pytest.mark.usefixtures("job_env")
def test_ranges_compare_by_network_not_by_spelling(fake: FakeCloudflare, capsys: pytest.CaptureFixture[str]) -> None:
    fake.body = published(ipv6=[cidr.upper() for cidr in DEPLOYED["ipv6"]])
    report, _ = run_job(capsys)
    assert report["drift"] is False


@pytest.mark.usefixtures("job_env")
def test_a_slow_answer_times_out_as_an_alarmed_failure(
    fake: FakeCloudflare, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge_drift, "TOTAL_TIMEOUT_S", 0.3)
    fake.delay_s = 1.5
    started = time.monotonic()
    report, metrics = run_job(capsys)
    assert time.monotonic() - started < 1.4
    assert report["checked"] is False
    assert "could not be fetched" in report["error"]
    assert metrics == {edge_drift.DRIFT_METRIC: 0, edge_drift.CHECK_FAILED_METRIC: 1}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"<html>maintenance</html>", "not JSON"),
        (200, json.dumps({"success": False, "errors": [{"code": 1}], "result": None}).encode(), "not a successful"),
        (200, json.dumps({"success": True, "result": {"ipv4_cidrs": ["1.1.1.0/24"]}}).encode(), "lacks"),
        (200, published(ipv4=["not-a-cidr"]), "not a CIDR"),
        (200, published(ipv4=["10.0.0.1/8"]), "not a CIDR"),  # host bits set: not a network
        (200, published(ipv4=["2400:cb00::/32"]), "not an IPv4 range"),
        (200, published(ipv4=[]), "no IPv4 range"),
        (200, published(ipv4=[17]), "not a string"),
        (200, json.dumps([1, 2]).encode(), "not a successful"),
        (500, b"{}", "HTTP 500"),
        (302, b"", "HTTP 302"),  # redirects are never followed
        (200, b" " * (edge_drift.MAX_RESPONSE_BYTES + 1), "exceed"),
    ],
)
@pytest.mark.usefixtures("job_env")
def test_bad_answers_are_alarmed_failures_not_crashes(
    fake: FakeCloudflare, capsys: pytest.CaptureFixture[str], status: int, body: bytes, expected: str
) -> None:
    fake.status, fake.body = status, body
    fake.headers = {"Location": "https://evil.example/ips"} if status == 302 else {}
    report, metrics = run_job(capsys)
    assert report["checked"] is False
    assert expected in report["error"]
    assert report["missing"] == report["extra"] == []
    assert metrics == {edge_drift.DRIFT_METRIC: 0, edge_drift.CHECK_FAILED_METRIC: 1}
    assert len(fake.requests) == 1


def test_plain_http_is_refused_except_to_loopback() -> None:
    report = edge_drift.check(url="http://api.cloudflare.example/client/v4/ips")
    assert report.checked is False
    assert "non-HTTPS" in report.error


def test_deployed_functions_default_to_cloudflare_over_https() -> None:
    assert settings.Settings.__dataclass_fields__["cloudflare_ips_url"].default == (
        "https://api.cloudflare.com/client/v4/ips"
    )
