"""F15 (R42): webhook and callback hosts are DNS names or IP literals, never an IANA special-purpose address.

Every block of IANA's IPv4 and IPv6 special-purpose registries is refused at creation (IP literal in the URL), at
creation and at every delivery (a name resolving to it), and so is any IPv6 address that embeds a non-global IPv4
address (IPv4-mapped and -compatible, 6to4, NAT64, Teredo).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.messages_api import handler as messages_api
from functions.webhooks_api import handler as webhooks_api
from switchboard import urls, webhook_client
from switchboard.crypto import envelope
from switchboard.webhook_client import TargetRefused, check_addresses, parse_target
from tests.integration.conftest import Context, _handlers_run_as_deployed, aws, rest_event
from tests.webhook_dns import PUBLIC_IP as PUBLIC_V4
from tests.webhook_dns import dns

__all__ = ["_handlers_run_as_deployed", "aws", "dns"]  # fixtures this module's tests use

PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

# Every block of https://www.iana.org/assignments/iana-ipv4-special-registry and -ipv6-special-registry, plus
# multicast and the deprecated site-local and IPv4-compatible blocks.
IPV4_BLOCKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.0.0.170/32",
    "192.0.0.171/32",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
]
IPV6_BLOCKS = [
    "::1/128",
    "::/128",
    "::ffff:0:0/96",
    "::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001::/32",
    "2001:1::1/128",
    "2001:1::2/128",
    "2001:1::3/128",
    "2001:2::/48",
    "2001:3::/32",
    "2001:4:112::/48",
    "2001:10::/28",
    "2001:20::/28",
    "2001:30::/28",
    "2001:db8::/32",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "4000::/3",  # outside 2000::/3: not (yet) global unicast
]


def _samples(block: str) -> list[str]:
    network = ipaddress.ip_network(block)
    picks = {network.network_address, network.broadcast_address, network.network_address + network.num_addresses // 2}
    return [str(address) for address in sorted(picks)]


SPECIAL = [address for block in IPV4_BLOCKS + IPV6_BLOCKS for address in _samples(block)]


def _url(address: str) -> str:
    return f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook"


@pytest.mark.parametrize("address", SPECIAL)
def test_special_purpose_literal_is_refused_in_a_url(address: str) -> None:
    assert urls.address_problem(ipaddress.ip_address(address)) is not None
    with pytest.raises(TargetRefused, match="the address is"):
        parse_target(_url(address), local=False)


@pytest.mark.parametrize("address", SPECIAL)
def test_special_purpose_address_behind_a_name_is_refused_at_delivery(dns: dict[str, list[str]], address: str) -> None:
    dns["rebind.example.com"] = [PUBLIC_V4, address]  # one bad answer among good ones is enough
    target = parse_target("https://rebind.example.com/hook", local=False)
    with pytest.raises(TargetRefused, match="resolves to"):
        check_addresses(target, local=False)
    with pytest.raises(TargetRefused):
        webhook_client.post("https://rebind.example.com/hook", b"{}", {}, local=False, timeout_s=0.1)


@pytest.mark.parametrize(
    "address",
    [PUBLIC_V4, "1.1.1.1", PUBLIC_V6, "2a00:1450:4001:80b::200e", "2002:5db8:d70e::1", "64:ff9b::5db8:d70e"],
)
def test_public_unicast_addresses_pass(address: str) -> None:
    assert urls.address_problem(ipaddress.ip_address(address)) is None
    assert parse_target(_url(address), local=False).host == address


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("x\x00y", "control characters"),
        ("x\ty.example.com", "control characters"),
        ("x\x7fy.example.com", "control characters"),
        ("exa mple.com", "spaces"),
        ("exa\u00a0mple.com", "spaces"),
        ("exa\u200bmple.com", "invisible"),
        ("exa\u2028mple.com", "spaces"),
        ("[v1.x]", "IPvFuture"),
        ("[v7.fe80::1+eth0]", "IPvFuture"),
        ("[fe80::1%25eth0]", "zone id"),
        ("[93.184.215.14]", "brackets"),
        ("a" * 64 + ".example.com", "longer than 63"),
        (".".join(["a" * 63] * 4) + ".com", "longer than 253"),
        ("a..example.com", "empty label"),
        (".example.com", "empty label"),
        ("example.com.", "empty label"),
        ("-a.example.com", "letters, digits"),
        ("a-.example.com", "letters, digits"),
        ("a_b.example.com", "letters, digits"),
        ("a%2eb.example.com", "letters, digits"),
        ("xn--a.example.com", "IDNA"),
        ("xn--zca.example.com", "IDNA"),
        ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "canonical"),
        ("bu\u0308cher.example.com", "canonical"),
        ("2130706433", "numeric"),
        ("0x7f000001", "numeric"),
        ("127.1", "numeric"),
        ("0177.0.0.1", "numeric"),
        ("0x7f.0.0.1", "numeric"),
        ("1.2.3.4.5", "numeric"),
        ("intranet", "fully qualified"),
        ("localhost", "special-use"),
        ("api.localhost", "special-use"),
        ("printer.local", "special-use"),
        ("metadata.google.internal", "special-use"),
        ("x.onion", "special-use"),
        ("router.home.arpa", "special-use"),
        ("1.0.0.127.in-addr.arpa", "special-use"),
    ],
)
def test_host_that_is_no_dns_name_or_ip_literal_is_refused(host: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        parse_target(f"https://{host}/hook", local=False)


@pytest.mark.parametrize(
    "host", ["hooks.example.com", "a-b.c0.example.io", "bücher.example.com", "xn--bcher-kva.example.com", "x.co"]
)
def test_dns_names_pass(host: str) -> None:
    assert urls.host_problem(host) is None
    assert parse_target(f"https://{host}/hook", local=False).host == host


NON_GLOBAL_V4 = [ipaddress.IPv4Network(block) for block in IPV4_BLOCKS]


@st.composite
def non_global_v4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    network = draw(st.sampled_from(NON_GLOBAL_V4))
    return network.network_address + draw(st.integers(0, network.num_addresses - 1))


@st.composite
def embedding(draw: st.DrawFn) -> tuple[str, ipaddress.IPv6Address]:
    v4 = int(draw(non_global_v4()))
    how = draw(st.sampled_from(["mapped", "compatible", "6to4", "nat64", "nat64-local", "teredo"]))
    low64 = draw(st.integers(0, 2**64 - 1))
    if how == "mapped":
        value = 0xFFFF << 32 | v4
    elif how == "compatible":
        value = v4
    elif how == "6to4":
        value = 0x2002 << 112 | v4 << 80 | draw(st.integers(0, 2**16 - 1)) << 64 | low64
    elif how == "nat64":
        value = 0x0064FF9B << 96 | v4
    elif how == "nat64-local":
        # RFC 6052 places the IPv4 bits around the "u" octet for a /48 prefix; any of 64:ff9b:1::/48 is refused.
        value = 0x0064FF9B0001 << 80 | (v4 >> 16) << 64 | (v4 & 0xFFFF) << 48 | draw(st.integers(0, 2**48 - 1))
    else:  # Teredo: server IPv4 in bits 32-63, the client's IPv4 inverted in the last 32 bits
        value = 0x20010000 << 96 | v4 << 64 | draw(st.integers(0, 2**32 - 1)) << 32 | (v4 ^ 0xFFFFFFFF)
    return how, ipaddress.IPv6Address(value)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(embedding())
def test_any_ipv6_embedding_a_non_global_ipv4_is_refused(embedded: tuple[str, ipaddress.IPv6Address]) -> None:
    how, address = embedded
    assert urls.address_problem(address) is not None, (how, address)
    assert urls.address_problem(address, allow_loopback=True) is not None or how == "mapped", (how, address)
    with pytest.raises(TargetRefused):
        parse_target(_url(str(address)), local=False)
    target = webhook_client.Target(scheme="https", host="rebind.example.com", port=443, path="/")
    original = webhook_client.resolve
    try:
        webhook_client.resolve = lambda host, port: [str(address)]  # type: ignore[assignment]
        with pytest.raises(TargetRefused):
            check_addresses(target, local=False)
    finally:
        webhook_client.resolve = original  # type: ignore[assignment]


# --- at creation, through the handlers: 422, nothing stored ----------------------------------------------------------

BAD_URLS = [
    "https://x\x00y/hook",
    "https://exa mple.com/hook",
    "https://[v1.x]/hook",
    "https://" + "a" * 64 + ".example.com/hook",
    "https://a..example.com/hook",
    "https://[2002:a9fe:a9fe::]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[fec0::1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[2001:0:a9fe:a9fe::1]/hook",
    "https://192.0.0.9/hook",
    "https://2130706433/hook",
    "https://metadata.google.internal/hook",
    "https://rebind.example.com/hook",  # resolves to 169.254.169.254
]


def _authorized(method: str, path: str, body: Any) -> dict[str, Any]:
    event = rest_event(method, path, json.dumps(body))
    event["headers"]["Content-Type"] = "application/json"
    event["requestContext"]["authorizer"] = {
        "principalId": "usr_1",
        "account_id": "acct_a",
        "principal": "usr_1",
        "role": "owner",
        "credential": "session",
        "session_id": "ses_1",
        "key_id": "",
        "plan": "pro",
        "mode": "test",
        "auth_at": "",
    }
    return event


@pytest.fixture
def account(aws: dict[str, str], dns: dict[str, list[str]]) -> Iterator[dict[str, str]]:
    envelope.create_key("acct_a")
    dns["rebind.example.com"] = ["169.254.169.254"]
    yield aws


def _stored(tables: dict[str, str]) -> int:
    """Items in every table but Limits (its rate counters count refused requests too)."""
    client = boto3.client("dynamodb")
    return sum(client.scan(TableName=name)["Count"] for name in tables.values() if not name.endswith("-Limits"))


def test_webhook_endpoint_with_a_bad_host_is_422_and_nothing_is_stored(account: dict[str, str]) -> None:
    # One moto account for the whole class (its setup costs seconds); each URL is its own request.
    before = _stored(account)
    for url in BAD_URLS:
        event = _authorized("POST", "/v1/webhook-endpoints", {"url": url, "events": ["message.status"]})
        result = webhooks_api.lambda_handler(event, Context())
        problem = json.loads(result["body"])
        assert (result["statusCode"], problem["code"]) == (422, "invalid_webhook_url"), (url, problem)
        assert problem["errors"][0]["pointer"] == "/url"
    assert _stored(account) == before


def test_callback_url_with_a_bad_host_is_422_and_nothing_is_stored(account: dict[str, str]) -> None:
    before = _stored(account)
    for url in BAD_URLS:
        body = {"to": "+14155552671", "channel": "sms", "body": "hi", "callback_url": url}
        result = messages_api.lambda_handler(_authorized("POST", "/v1/messages", body), Context())
        problem = json.loads(result["body"])
        assert result["statusCode"] == 422, (url, problem)
        assert "/callback_url" in [e["pointer"] for e in problem["errors"]]
    assert _stored(account) == before
