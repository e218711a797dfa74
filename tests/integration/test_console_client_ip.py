"""The console's vouching header: a genuine fresh value for its own request names the client; anything else names
nothing, and the request goes on with the edge's address (no 4xx, no 500)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from local import provision
from switchboard import catalog, clock, settings
from switchboard.crypto import client_ip, secret_store
from switchboard.models.request import RequestMeta
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - the fixture

EDGE_IP = "198.51.100.66"  # what the API's edge saw: the console's own egress address, deployed
BROWSER_IP = "203.0.113.10"
METHOD, PATH = "POST", "/v1/sessions"


@pytest.fixture
def forwarding(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ConsoleForwarding secret as the local stack makes it, granted to this process; yields its name."""
    spec = catalog.secret(catalog.CONSOLE_FORWARDING)
    name = provision.secret_name(spec)
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(provision.secret_value(spec)))
    monkeypatch.setenv(spec.env, name)
    monkeypatch.setattr(client_ip, "_reloaded_at", -client_ip.RELOAD_EVERY_S)
    settings.reload()
    secret_store.forget()
    yield name
    secret_store.forget()


def _event(value: str | None, method: str = METHOD, path: str = PATH, **headers: str) -> dict[str, Any]:
    sent = {**headers, **({"Switchboard-Console-Client": value} if value is not None else {})}
    return {
        "httpMethod": method,
        "path": path,
        "headers": sent,
        "requestContext": {"requestId": "r1", "identity": {"sourceIp": EDGE_IP, "userAgent": "console"}},
    }


def _seen(value: str | None, method: str = METHOD, path: str = PATH) -> str:
    return RequestMeta.from_event(_event(value, method, path)).source_ip


def test_a_fresh_value_for_this_request_names_the_browser(forwarding: str) -> None:
    assert _seen(client_ip.vouch(BROWSER_IP, METHOD, PATH)) == BROWSER_IP
    assert _seen(None) == EDGE_IP
    # IPv6 in any spelling is vouched for in its one compressed form; a query string is not part of the route.
    assert _seen(client_ip.vouch("2001:0db8:0000::0001", "GET", "/v1/sessions"), "GET", "/v1/sessions") == "2001:db8::1"
    assert (
        _seen(client_ip.vouch(BROWSER_IP, "get", "/v1/recipients/rcp_1"), "GET", "/v1/recipients/rcp_1") == BROWSER_IP
    )


def test_a_deployed_stage_prefers_the_vouched_address_to_cloudflares(
    forwarding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGE", "dev")
    settings.reload()
    event = _event(client_ip.vouch(BROWSER_IP, METHOD, PATH), **{"CF-Connecting-IP": "192.0.2.99"})
    assert RequestMeta.from_event(event).source_ip == BROWSER_IP
    assert RequestMeta.from_event(_event("forged", **{"CF-Connecting-IP": "192.0.2.99"})).source_ip == "192.0.2.99"


def _edit(position: int, replacement: str) -> Callable[[str], str]:
    def edit(value: str) -> str:
        parts = value.split(" ")
        parts[position] = replacement
        return " ".join(parts)

    return edit


def _resigned(key: bytes, version: str = "client_ip_v1", issued_at: int | None = None) -> Callable[[str], str]:
    # A well-formed value MAC'd with some other key (or time): what a forger who lacks the real key can make.
    def make(_: str) -> str:
        at = int(clock.timestamp()) if issued_at is None else issued_at
        mac = client_ip._mac(key, (version, at, BROWSER_IP), METHOD, PATH)
        return f"{version} {at} {BROWSER_IP} {mac}"

    return make


BAD_VALUES: dict[str, Callable[[str], str]] = {
    "another address put in": _edit(2, "192.0.2.1"),
    "another time put in": _edit(1, "1"),
    "a MAC of another key": _resigned(secrets.token_bytes(32)),
    "a MAC one character off": lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
    "no MAC": lambda v: v.rsplit(" ", 1)[0] + " ",
    "three fields": lambda v: v.rsplit(" ", 1)[0],
    "five fields": lambda v: v + " extra",
    "tabs for spaces": lambda v: v.replace(" ", "\t"),
    "an unknown version": _edit(0, "client_ip_v7"),
    "the next version, which the secret lacks": _edit(0, "client_ip_v2"),
    "a version of another family": _edit(0, "blind_index_v1"),
    "version zero": _edit(0, "client_ip_v0"),
    "an absurd version": _edit(0, "client_ip_v99999999999999999999"),
    "Arabic-Indic digits for the time": _edit(1, "١٧٣٣٠٠٠٠٠٠"),
    "a negative time": _edit(1, "-1"),
    "a huge time": _edit(1, "9" * 400),
    "not an address": _edit(2, "not-an-ip"),
    "an octet out of range": _edit(2, "203.0.113.300"),
    "an address with a port": _edit(2, f"{BROWSER_IP}:443"),
    "an uncompressed IPv6 address": _edit(2, "2001:0db8:0:0:0:0:0:1"),
    "an address list": _edit(2, f"{BROWSER_IP},192.0.2.1"),
    "overlong": lambda v: v + "A" * 10_000,
    "empty": lambda _: "",
    "only spaces": lambda _: "    ",
    "NUL bytes": lambda v: v.replace(" ", "\0"),
}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_a_forged_or_broken_value_names_nothing(forwarding: str, bad: str) -> None:
    value = BAD_VALUES[bad](client_ip.vouch(BROWSER_IP, METHOD, PATH))
    assert _seen(value) == EDGE_IP


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", PATH), ("POST", "/v1/password-resets"), ("POST", "/v1/sessions/current/reauth"), ("POST", "/v1/Sessions")],
)
def test_a_value_copied_onto_another_request_names_nothing(forwarding: str, method: str, path: str) -> None:
    assert _seen(client_ip.vouch(BROWSER_IP, METHOD, PATH), method, path) == EDGE_IP


def test_a_value_vouches_for_a_minute_either_way_then_names_nothing(forwarding: str, frozen: FrozenClock) -> None:
    value = client_ip.vouch(BROWSER_IP, METHOD, PATH)
    frozen.advance(client_ip.MAX_SKEW_S)
    assert _seen(value) == BROWSER_IP
    frozen.advance(1)
    assert _seen(value) == EDGE_IP
    # A console clock ahead of the API's by more than the skew is refused too.
    early = _resigned(_key(forwarding), issued_at=int(clock.timestamp()) + client_ip.MAX_SKEW_S + 2)("")
    assert _seen(early) == EDGE_IP


def _key(name: str, version: str = "client_ip_v1") -> bytes:
    value = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])
    encoded = value[version]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def test_a_function_without_the_key_ignores_the_header_and_reads_no_secret(
    forwarding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = client_ip.vouch(BROWSER_IP, METHOD, PATH)
    monkeypatch.delenv(catalog.secret(catalog.CONSOLE_FORWARDING).env)
    settings.reload()
    secret_store.forget()
    reads: list[str] = []
    monkeypatch.setattr(secret_store, "get_json", lambda env, **_: reads.append(env) or {})
    assert _seen(value) == EDGE_IP
    assert reads == []


def test_a_rotation_is_honoured_at_once_and_forged_next_versions_reload_once_a_minute(
    forwarding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _seen(client_ip.vouch(BROWSER_IP, METHOD, PATH)) == BROWSER_IP  # this process caches v1 alone
    manager = boto3.client("secretsmanager")
    value = json.loads(manager.get_secret_value(SecretId=forwarding)["SecretString"])
    v2 = secrets.token_bytes(32)
    value["client_ip_v2"] = base64.urlsafe_b64encode(v2).decode()
    manager.put_secret_value(SecretId=forwarding, SecretString=json.dumps(value))

    calls: list[str] = []
    original = secret_store.get_json

    def counted(env: str, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("require"):
            calls.append(str(kwargs["require"]))
        return original(env, **kwargs)

    monkeypatch.setattr(secret_store, "get_json", counted)
    # The console, whose cache is newer, signs with v2: this process reloads and accepts it.
    assert _seen(_resigned(v2, "client_ip_v2")("")) == BROWSER_IP
    assert calls == ["client_ip_v2"]
    # Forged values naming the next version (v3) reload at most once a minute, however many arrive.
    forged = _resigned(secrets.token_bytes(32), "client_ip_v3")
    assert [_seen(forged("")) for _ in range(20)] == [EDGE_IP] * 20
    assert calls == ["client_ip_v2"]  # within the minute of the last reload: none
    monkeypatch.setattr(client_ip, "_reloaded_at", client_ip._reloaded_at - client_ip.RELOAD_EVERY_S)
    assert [_seen(forged("")) for _ in range(20)] == [EDGE_IP] * 20
    assert calls == ["client_ip_v2", "client_ip_v3"]


def test_the_console_never_passes_on_a_browsers_own_header(forwarding: str) -> None:
    from switchboard.console.web import Request  # noqa: PLC0415

    genuine = client_ip.vouch("192.0.2.1", "GET", "/console/login")
    event = _event(genuine, "GET", "/console/login")
    assert Request.from_event(event).client_ip == EDGE_IP
