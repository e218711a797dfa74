"""Webhook URL rules (R42): https on 443 deployed, no userinfo, no private/loopback/link-local/ULA targets."""

from collections.abc import Iterator

import pytest

from switchboard import settings
from switchboard.logic import webhooks
from switchboard.models.errors import ValidationFailed
from switchboard.webhook_client import TargetRefused, check_addresses, parse_target
from tests.webhook_dns import PUBLIC_IP, dns

__all__ = ["dns"]  # the fixture this module's tests use


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STAGE", "prod")
    settings.reload()
    yield
    monkeypatch.delenv("STAGE")
    settings.reload()


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STAGE", "local")
    settings.reload()
    yield
    settings.reload()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/hook", "only https"),
        ("ftp://hooks.example.com/hook", "only https"),
        ("https://10.0.0.5/", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fd00:ec2::254]/", "private"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://100.64.0.1/", "not globally routable"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://user:pass@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https://hooks.example.com:8443/", "port 443"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https:///path", "no host"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("http://localhost:8080/hook", "only https"),
    ],
)
def test_parse_target_refuses_deployed(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        parse_target(url, local=False)


def test_parse_target_accepts_https_on_443() -> None:
    target = parse_target("https://Hooks.Example.com:443/a/b?x=1", local=False)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 443, "/a/b?x=1")
    assert target.host_header == "hooks.example.com"
    assert parse_target("https://hooks.example.com", local=False).path == "/"
    assert parse_target(f"https://{PUBLIC_IP}/hook", local=False).host == PUBLIC_IP


def test_parse_target_locally_allows_loopback_http_on_any_port() -> None:
    target = parse_target("http://127.0.0.1:8099/hook", local=True)
    assert (target.scheme, target.port, target.host_header) == ("http", 8099, "127.0.0.1:8099")
    assert parse_target("http://localhost:9000/x", local=True).host == "localhost"
    for url in ("http://10.0.0.5:8080/", "http://hooks.example.com/", "https://192.168.0.1/"):
        with pytest.raises(TargetRefused):
            parse_target(url, local=True)


def test_check_addresses_refuses_a_name_resolving_to_loopback(dns: dict[str, list[str]]) -> None:
    dns["rebind.example.com"] = ["127.0.0.1"]
    target = parse_target("https://rebind.example.com/hook", local=False)
    with pytest.raises(TargetRefused, match="loopback"):
        check_addresses(target, local=False)
    assert check_addresses(target, local=True) == "127.0.0.1"


def test_check_addresses_refuses_when_any_address_is_private(dns: dict[str, list[str]]) -> None:
    dns["mixed.example.com"] = [PUBLIC_IP, "10.1.2.3"]
    with pytest.raises(TargetRefused, match="private"):
        check_addresses(parse_target("https://mixed.example.com/", local=False), local=False)
    dns["meta.example.com"] = ["169.254.169.254"]
    with pytest.raises(TargetRefused, match="link-local"):
        check_addresses(parse_target("https://meta.example.com/", local=True), local=True)


def test_check_addresses_returns_the_checked_public_address(dns: dict[str, list[str]]) -> None:
    assert check_addresses(parse_target("https://hooks.example.com/", local=False), local=False) == PUBLIC_IP


def test_check_url_answers_422_with_a_pointer(dns: dict[str, list[str]], deployed: None) -> None:
    dns["internal.example.com"] = ["10.0.0.7"]
    for url in ("http://hooks.example.com/", "https://internal.example.com/", "https://[::1]/"):
        with pytest.raises(ValidationFailed) as caught:
            webhooks.check_url(url)
        assert caught.value.status == 422
        assert caught.value.instance_code == "invalid_webhook_url"
        assert caught.value.extra["errors"][0]["pointer"] == "/url"
    assert webhooks.check_url("https://hooks.example.com/hook") == "https://hooks.example.com/hook"
    # Not resolvable yet: accepted, and checked again at every delivery.
    assert webhooks.check_url("https://not-yet.example.com/hook") == "https://not-yet.example.com/hook"


def test_check_url_locally_allows_loopback_receivers(dns: dict[str, list[str]], local: None) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    assert webhooks.check_url("http://localhost:8099/hook") == "http://localhost:8099/hook"
    assert webhooks.check_url("http://127.0.0.1:8099/hook") == "http://127.0.0.1:8099/hook"
    with pytest.raises(ValidationFailed):
        webhooks.check_url("https://10.0.0.5/")
