"""status_page_job under moto: live signals (a DLQ message, open circuits, 5xx, queue age) reach GET /status and the
published page, and go away again when the signal does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import pytest

from functions.public_api import handler as public_api
from functions.status_page_job import handler as job
from local import lambdas, provision, scheduler
from switchboard import catalog, clock, settings
from switchboard.dal import circuits
from switchboard.logic import status
from switchboard.logic.status_page import ATOM, NotConfigured
from switchboard.models.status import IncidentIn
from tests.integration.conftest import rest_event
from tests.lambda_context import Context

JOB = catalog.function(catalog.STATUS_PAGE_JOB)
BUCKET = provision.status_page_bucket_name()
PAGE_URL = "http://127.0.0.1:8080/_local/status-page/"


@pytest.fixture
def queues(aws: dict[str, str]) -> Iterator[dict[str, str]]:
    """Every catalog queue and DLQ, as the local stack makes them; yields catalog id -> DLQ URL."""
    sqs = boto3.client("sqs")
    urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests()}
    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield {spec.id: urls[provision.queue_name(spec, dead_letter=True)] for spec in catalog.QUEUES}


def config(dlqs: dict[str, str]) -> str:
    names = provision.LocalNames(
        tables={}, queues={q.id: dlqs[q.id].replace("-dlq", "") for q in catalog.QUEUES}, secrets={}, key_id=""
    )
    return provision.status_page_config(names, provision.stage_values("local", "http://127.0.0.1:8080"))


def run_job(dlqs: dict[str, str]) -> dict[str, Any]:
    """The job as deployed: its own variables only, plus its configuration."""
    environment = {**lambdas.environment_from(JOB, os.environ), catalog.STATUS_PAGE_CONFIG_ENV: config(dlqs)}
    with settings.scope(environment):
        result: dict[str, Any] = job.lambda_handler(scheduler.scheduled_event(catalog.STATUS_PAGE), Context())
    return result


def get_status() -> dict[str, Any]:
    result = public_api.lambda_handler(rest_event("GET", "/status"), Context())
    assert result["statusCode"] == 200
    body: dict[str, Any] = json.loads(result["body"])
    return body


def components(body: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in body["components"]}


def published(key: str) -> tuple[bytes, Any]:
    answer = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)
    return answer["Body"].read(), answer


def test_a_dead_lettered_send_degrades_its_channel_until_the_dlq_is_drained(queues: dict[str, str]) -> None:
    assert run_job(queues)["status"] == "operational"
    assert set(components(get_status()).values()) == {"operational"}
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=queues["SmsSend"], MessageBody='{"message_id": "msg_dead"}')

    report = run_job(queues)
    assert report["health"]["sms"] == "degraded"
    assert report["reasons"] == {"sms": ["SmsSend DLQ holds 1 message(s)"]}
    body = get_status()
    assert body["status"] == "degraded"
    assert components(body) == {"api": "operational", "sms": "degraded", "whatsapp": "operational",
                                "voice": "operational", "webhooks": "operational"}  # fmt: skip
    assert json.loads(published("status.json")[0])["components"] == body["components"]

    # An operator redrives or deletes it after fixing the cause: the next run finds the DLQ empty.
    [message] = sqs.receive_message(QueueUrl=queues["SmsSend"])["Messages"]
    sqs.delete_message(QueueUrl=queues["SmsSend"], ReceiptHandle=message["ReceiptHandle"])
    assert run_job(queues)["status"] == "operational"
    assert get_status()["status"] == "operational"


def test_open_circuits_degrade_every_channel_then_outage_then_recover(queues: dict[str, str]) -> None:
    until = clock.timestamp() + 30
    circuits.trip("sandbox-a", until=until)  # the local stage routes every channel to the sandbox carriers
    run_job(queues)
    assert components(get_status()) == {"api": "operational", "sms": "degraded", "whatsapp": "degraded",
                                        "voice": "degraded", "webhooks": "operational"}  # fmt: skip
    circuits.trip("sandbox-b", until=until)
    run_job(queues)
    body = get_status()
    assert body["status"] == "outage"
    assert {components(body)[c] for c in catalog.CHANNELS} == {"outage"}
    circuits.close("sandbox-a")
    circuits.close("sandbox-b")
    run_job(queues)
    assert get_status()["status"] == "operational"


def test_a_circuit_past_its_cool_down_no_longer_counts_as_open(queues: dict[str, str]) -> None:
    circuits.trip("sandbox-a", until=clock.timestamp() + 30)
    clock.advance(31)
    assert run_job(queues)["status"] == "operational"


def test_5xx_ratio_and_queue_age_come_from_cloudwatch(queues: dict[str, str]) -> None:
    cloudwatch = boto3.client("cloudwatch")
    api = [{"Name": "ApiName", "Value": provision.PREFIX}, {"Name": "Stage", "Value": "live"}]
    # A minute ago: inside the job's 5-minute window (moto drops a datapoint stamped at the window's very end).
    now = clock.now() - timedelta(seconds=60)
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Count", "Dimensions": api, "Value": 200.0, "Timestamp": now},
            {"MetricName": "5XXError", "Dimensions": api, "Value": 30.0, "Timestamp": now},
        ],
    )
    voice = [{"Name": "QueueName", "Value": provision.queue_name(catalog.queue("VoiceSend"))}]
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {"MetricName": "ApproximateAgeOfOldestMessage", "Dimensions": voice, "Value": 400.0, "Timestamp": now}
        ],
    )
    report = run_job(queues)
    assert report["health"]["api"] == "outage"  # 15 % of 200 requests
    assert report["health"]["voice"] == "degraded"
    assert report["health"]["sms"] == "operational"
    assert get_status()["status"] == "outage"


def test_a_stale_health_reading_is_ignored(queues: dict[str, str]) -> None:
    boto3.client("sqs").send_message(QueueUrl=queues["Callbacks"], MessageBody="{}")
    run_job(queues)
    assert components(get_status())["webhooks"] == "degraded"
    clock.advance(status.HEALTH_MAX_AGE.total_seconds() + 1)  # the job stopped running
    assert components(get_status())["webhooks"] == "operational"


def test_an_incident_shows_on_the_published_page_and_feed(queues: dict[str, str]) -> None:
    opened = status.open_incident(
        IncidentIn(title="<script>alert(1)</script> SMS delays", impact="major", components=["sms"], body="Looking.")
    )
    run_job(queues)
    html, answer = published("index.html")
    assert answer["ContentType"] == "text/html; charset=utf-8"
    assert answer["CacheControl"] == "public, max-age=60, stale-if-error=86400"
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; SMS delays" in html
    assert b"<script" not in html
    atom, answer = published("incidents.atom")
    assert answer["ContentType"] == "application/atom+xml"
    feed = ET.fromstring(atom)  # noqa: S314 - our own feed, as a reader parses it
    [entry] = feed.findall(f"{{{ATOM}}}entry")
    assert entry.findtext(f"{{{ATOM}}}id") == f"{PAGE_URL}#{opened.id}"
    assert entry.findtext(f"{{{ATOM}}}title") == "<script>alert(1)</script> SMS delays"
    document = json.loads(published("status.json")[0])
    assert document["incidents"][0]["id"] == opened.id
    assert {c["name"]: c["status"] for c in document["components"]}["sms"] == "degraded"


def test_the_job_refuses_to_run_without_its_configuration(queues: dict[str, str]) -> None:
    with settings.scope(lambdas.environment_from(JOB, os.environ)), pytest.raises(NotConfigured):
        job.lambda_handler(scheduler.scheduled_event(catalog.STATUS_PAGE), Context())
