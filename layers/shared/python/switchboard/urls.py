"""URL host checks shared by the outbound HTTP clients: host syntax and the special-purpose address ranges (R42)."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# A last label like these is an inet_aton-style IPv4 form (`127.1`, `2130706433`, `0x7f000001`), never a DNS name:
# no top-level domain is numeric (RFC 3696 §2), and resolvers turn such a "name" into an address.
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
# Special-use domain names (RFC 6761, 6762, 7686, 8375, 9476) and reverse-DNS zones: never a customer's public host.
_SPECIAL_SUFFIXES = ("localhost", "local", "internal", "invalid", "onion", "alt", "home.arpa")
_REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")

# IANA's IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry), plus multicast and the old class E:
# every block is refused, including the few IANA calls globally reachable (AS112, AMT, the 192.0.0.0/24 anycasts):
# none is a place a customer receives webhooks.
_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified ('this network', RFC 791)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "not globally routable (shared address space, RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "reserved for IETF protocol assignments"),
        ("192.0.2.0/24", "reserved for documentation"),
        ("192.31.196.0/24", "reserved (AS112)"),
        ("192.52.193.0/24", "reserved (AMT)"),
        ("192.88.99.0/24", "reserved (deprecated 6to4 relay anycast)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("192.175.48.0/24", "reserved (AS112 direct delegation)"),
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("198.51.100.0/24", "reserved for documentation"),
        ("203.0.113.0/24", "reserved for documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4, incl. broadcast)"),
    )
)
# IANA's IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry) and the other non-unicast blocks, most
# specific first. 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) are judged by the IPv4 address they embed instead.
_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::1/128", "loopback"),
        ("::/128", "unspecified"),
        ("::/96", "reserved (deprecated IPv4-compatible)"),
        ("64:ff9b:1::/48", "reserved (local-use NAT64, RFC 8215)"),
        ("100::/64", "reserved (discard-only, RFC 6666)"),
        ("100:0:0:1::/64", "reserved (dummy prefix, RFC 9780)"),
        ("2001::/32", "reserved (Teredo tunnel)"),
        ("2001:db8::/32", "reserved for documentation"),
        ("2001::/23", "reserved for IETF protocol assignments"),
        ("2620:4f:8000::/48", "reserved (AS112)"),
        ("3fff::/20", "reserved for documentation"),
        ("5f00::/16", "reserved (SRv6 SIDs, RFC 9602)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses: the only hosts plain HTTP may reach (tests' and local fakes)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_unsafe_characters(text: str) -> bool:
    """True when `text` holds a control, format (invisible) or separator character, or any whitespace."""
    return any(unicodedata.category(c)[0] in {"C", "Z"} or c.isspace() for c in text)


def _v4_problem(address: ipaddress.IPv4Address, *, allow_loopback: bool) -> str | None:
    for network, reason in _V4_BLOCKS:
        if address in network:
            return None if allow_loopback and reason == "loopback" else reason
    return None if address.is_global else "not globally routable"


def _embedded(inner: ipaddress.IPv4Address, how: str) -> str | None:
    # Whatever decapsulates or translates the packet delivers it to the embedded IPv4 address: judge that one,
    # without the local stack's loopback allowance (nothing legitimate is reached through a tunnel to 127.0.0.1).
    reason = _v4_problem(inner, allow_loopback=False)
    return f"{reason} (IPv4 {inner} embedded in {how})" if reason else None


def _v6_problem(address: ipaddress.IPv6Address, *, allow_loopback: bool) -> str | None:
    if address in _MAPPED:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if allow_loopback and inner.is_loopback:
            return None
        reason = _v4_problem(inner, allow_loopback=False)
        return f"{reason} (IPv4-mapped {inner})" if reason else f"IPv4-mapped (write {inner} instead)"
    if address in _NAT64:
        return _embedded(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64 64:ff9b::/96")
    if address in _SIX_TO_FOUR:
        return _embedded(ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF), "6to4 2002::/16")
    reason = next((reason for network, reason in _V6_BLOCKS if address in network), None)
    if reason is None and address not in _GLOBAL_UNICAST:
        reason = "not globally routable (outside 2000::/3)"
    if reason is None and not address.is_global:
        reason = "not globally routable"
    return None if allow_loopback and reason == "loopback" else reason


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why we never connect to `address` (None for a public unicast address); `allow_loopback` for the local stack."""
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_problem(address, allow_loopback=allow_loopback)
    if address.scope_id is not None:
        return "scoped (zone id)"
    return _v6_problem(address, allow_loopback=allow_loopback)


def _ascii_name(host: str) -> str:
    """The A-label form of a host name; ValueError when it is not valid IDNA or not in canonical form."""
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            encoded = label.encode("idna").decode("ascii")
            back = encoded.encode("ascii").decode("idna")
        except UnicodeError:
            raise ValueError("not a valid internationalized name (IDNA)") from None
        # Nameprep maps some characters (fullwidth forms, zero-width characters, case): the name must already be in
        # the form DNS and the certificate will see, or two different strings would mean one host.
        if back != label:
            raise ValueError("not an internationalized name in canonical form (IDNA)")
        labels.append(encoded)
    return ".".join(labels)


def _literal_problem(host: str, *, bracketed: bool) -> str | None:
    """For a bracketed host or one with a colon: the reason it is not a plain IPv6 literal, or None."""
    if not bracketed:
        return "an IPv6 address must be written in brackets"
    try:
        literal = ipaddress.IPv6Address(host)
    except ValueError:
        return "only IPv6 addresses go in brackets (no IPvFuture)"
    return "an IPv6 zone id is not allowed" if literal.scope_id is not None else None


def _labels_problem(labels: list[str]) -> str | None:
    if any(not label for label in labels):
        return "the host has an empty label"
    if len(".".join(labels)) > MAX_NAME:
        return f"the host name is longer than {MAX_NAME} characters"
    problem = next((p for p in map(_label_problem, labels) if p), None)
    if problem is None and _NUMERIC_LABEL.match(labels[-1]):
        problem = "a numeric host that is not a dotted-quad IPv4 address"
    return problem


def _label_problem(label: str) -> str | None:
    if len(label) > MAX_LABEL:
        return f"a host name label is longer than {MAX_LABEL} characters"
    if not _LABEL.match(label):
        return "a host name label holds a character other than letters, digits and inner hyphens"
    if label.startswith("xn--"):
        try:
            label.encode("ascii").decode("idna")
        except UnicodeError:
            return "not a valid internationalized name (IDNA)"
    return None


def _name_problem(host: str, *, allow_localhost: bool) -> str | None:
    try:
        name = _ascii_name(host)
    except ValueError as error:
        return str(error)
    labels = name.split(".")
    problem = _labels_problem(labels)
    if problem:
        return problem
    if name == "localhost":
        return None if allow_localhost else "loopback (the special-use name localhost)"
    if len(labels) < 2:
        return "not a fully qualified domain name"
    special = next((s for s in _SPECIAL_SUFFIXES + _REVERSE_ZONES if name == s or name.endswith("." + s)), None)
    if special == "localhost":
        return "loopback (the special-use name .localhost)"
    return f"a special-use name (.{special})" if special else None


def host_problem(host: str, *, bracketed: bool = False, allow_localhost: bool = False) -> str | None:
    """Why `host` (a URL's host, lower case, without brackets) is neither a DNS name nor an IP literal; or None."""
    if not host:
        return "empty host"
    if has_unsafe_characters(host):
        return "the host contains control characters, spaces or invisible characters"
    if bracketed or ":" in host:
        return _literal_problem(host, bracketed=bracketed)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return _name_problem(host, allow_localhost=allow_localhost)
    return None
