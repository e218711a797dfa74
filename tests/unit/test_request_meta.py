"""The client IP comes from CF-Connecting-IP deployed and from the socket locally; forged headers are ignored."""

from collections.abc import Iterator

import pytest

from switchboard import settings
from switchboard.models.request import RequestMeta

EVENT = {
    "headers": {"CF-Connecting-IP": "203.0.113.9", "X-Forwarded-For": "10.0.0.1", "User-Agent": "curl/8"},
    "requestContext": {"requestId": "req-9", "identity": {"sourceIp": "162.158.1.1", "userAgent": "curl/8"}},
}


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    settings.reload()


def test_request_meta_deployed_trusts_only_cf_connecting_ip(stage: pytest.MonkeyPatch) -> None:
    stage.setenv("STAGE", "prod")
    settings.reload()
    meta = RequestMeta.from_event(EVENT)
    assert (meta.request_id, meta.source_ip, meta.user_agent) == ("req-9", "203.0.113.9", "curl/8")


def test_request_meta_local_uses_the_socket_address(stage: pytest.MonkeyPatch) -> None:
    stage.setenv("STAGE", "local")
    settings.reload()
    assert RequestMeta.from_event(EVENT).source_ip == "162.158.1.1"
