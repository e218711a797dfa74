"""The carrier media fetch over real sockets (a fake media host on loopback): redirects only to allowed hosts, a few
of them, credentials only for the first host, the size bound with and without a declared length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard import webhook_client
from switchboard.carriers import media_fetch
from switchboard.carriers.base import CarrierUnavailable
from switchboard.carriers.media_fetch import Host, MediaRefused
from tests.fakes.carrier_media import Answer, MediaHost, media_host

AUTH = {"Authorization": "Basic c2VjcmV0"}


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[MediaHost]:
    # `localhost` is the fake's second name (a CDN beside the API); resolved to the one address it listens on.
    monkeypatch.setattr(webhook_client, "resolve", lambda name, port: ["127.0.0.1"] if name == "localhost" else [])
    with media_host() as fake:
        yield fake


def _fetch(
    url: str, allowed: tuple[Host, ...], *, redirects: tuple[Host, ...] | None = None, bound: int = 1000
) -> bytes:
    return media_fetch.fetch(
        "twilio", url, headers=AUTH, allowed=allowed, redirect_hosts=redirects, loopback=True, max_bytes=bound
    )


def test_a_redirect_to_another_allowed_host_is_followed_without_the_credentials(host: MediaHost) -> None:
    port = host.base_url.rsplit(":", 1)[1]
    first = host.serve("/api/media", Answer(302, headers={"Location": f"http://localhost:{port}/cdn/file"}))
    host.serve("/cdn/file", Answer(200, b"the bytes"))
    got = _fetch(first, (Host("127.0.0.1", "/api/"),), redirects=(Host("localhost", "/cdn/"),))
    assert got == b"the bytes"
    assert host.hits("/api/media")[0]["authorization"] == AUTH["Authorization"]
    assert "authorization" not in host.hits("/cdn/file")[0]


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/x",
        "https://evil.example/x",
        "http://localhost:{port}/not-the-cdn/x",  # an allowed host, outside its path
        "file:///etc/passwd",
    ],
)
def test_a_redirect_off_the_allowlist_is_refused_and_never_requested(host: MediaHost, location: str) -> None:
    port = host.base_url.rsplit(":", 1)[1]
    first = host.serve("/api/media", Answer(302, headers={"Location": location.format(port=port)}))
    with pytest.raises(MediaRefused) as refused:
        _fetch(first, (Host("127.0.0.1", "/api/"),), redirects=(Host("localhost", "/cdn/"),))
    assert refused.value.reason == "not_allowed"
    assert [path for path, _ in host.seen] == ["/api/media"]


def test_redirects_stop_after_three(host: MediaHost) -> None:
    for hop in range(5):
        host.serve(f"/r{hop}", Answer(302, headers={"Location": f"/r{hop + 1}"}))
    host.serve("/r5", Answer(200, b"x"))
    with pytest.raises(MediaRefused):
        _fetch(f"{host.base_url}/r0", (Host("127.0.0.1"),))
    assert len(host.seen) == media_fetch.MAX_REDIRECTS + 1


@pytest.mark.parametrize("declared", [True, False])
def test_the_size_bound_refuses_a_larger_body_with_or_without_its_length(host: MediaHost, declared: bool) -> None:
    url = host.serve("/big", Answer(200, b"z" * 5000, declare_length=declared))
    with pytest.raises(MediaRefused) as refused:
        _fetch(url, (Host("127.0.0.1"),), bound=4999)
    assert refused.value.reason == "too_large"
    exact = host.serve("/exact", Answer(200, b"z" * 4999, declare_length=declared))
    assert _fetch(exact, (Host("127.0.0.1"),), bound=4999) == b"z" * 4999


def test_carrier_trouble_is_transient_and_a_refusal_is_not(host: MediaHost) -> None:
    for status in (500, 503, 429, 401):
        url = host.serve(f"/s{status}", Answer(status))
        with pytest.raises(CarrierUnavailable):
            _fetch(url, (Host("127.0.0.1"),))
    for status, reason in ((404, "not_found"), (410, "not_found"), (400, "not_allowed")):
        url = host.serve(f"/p{status}", Answer(status))
        with pytest.raises(MediaRefused) as refused:
            _fetch(url, (Host("127.0.0.1"),))
        assert refused.value.reason == reason
