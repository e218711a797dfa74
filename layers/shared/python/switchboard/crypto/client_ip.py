"""The console vouches for its browser's address to the API: an HMAC over the address, the time and the request."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import re
import threading
import time
from hashlib import sha256
from urllib.parse import unquote

from switchboard import clock, settings
from switchboard.crypto import secret_store
from switchboard.crypto.peppers import number

# Deployed, the console calls the API through Cloudflare like any client, so the API's CF-Connecting-IP is the
# console's own egress address, shared by every console user: its login throttle, new-device notices and audit
# trail would all see one address. The console sends this header instead, and only a console holding the key can.
HEADER = "switchboard-console-client"
ENV = "CONSOLE_FORWARDING_SECRET"
FAMILY = "client_ip"
MAX_SKEW_S = 60  # how long a value vouches: a leaked one is replayable on its own route for a minute at most
MAX_CHARS = 200
RELOAD_EVERY_S = 60.0
_VERSION = re.compile(rf"^{FAMILY}_v([1-9][0-9]{{0,5}})$")


_lock = threading.Lock()
_reloaded_at = -RELOAD_EVERY_S


class Refused(ValueError):
    """The header vouches for nothing: why (for the log line; the request goes on with the edge's address)."""


def held() -> bool:
    """This function is granted the key (the console, and the functions behind the routes it calls)."""
    return bool(settings.get().secrets.get(ENV))


def _keys(require: str | None = None) -> dict[str, bytes]:
    value = secret_store.get_json(ENV, require=require)
    return {
        name: base64.urlsafe_b64decode(str(encoded) + "=" * (-len(str(encoded)) % 4))
        for name, encoded in value.items()
        if _VERSION.match(name)
    }


def _may_reload() -> bool:
    global _reloaded_at  # noqa: PLW0603 - one process-wide budget, like the secret cache itself
    now = time.monotonic()
    with _lock:
        if now - _reloaded_at < RELOAD_EVERY_S:
            return False
        _reloaded_at = now
        return True


def _mac(key: bytes, fields: tuple[str, int, str], method: str, path: str) -> str:
    # (version, issued_at, ip), and the route: copied onto another route, a value vouches for nothing.
    version, issued_at, ip = fields
    message = "\0".join(("switchboard-console-client-ip", version, str(issued_at), ip, method.upper(), unquote(path)))
    return base64.urlsafe_b64encode(hmac.new(key, message.encode(), sha256).digest()).decode().rstrip("=")


def _address(value: str) -> str:
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise Refused("not an IP address") from None


def vouch(ip: str, method: str, path: str) -> str:
    """The header's value for one console request on behalf of the browser at `ip` (Refused for no address)."""
    keys = _keys()
    if not keys:
        raise Refused("the secret has no key")
    version = max(keys, key=number)
    address, issued_at = _address(ip), int(clock.timestamp())
    return f"{version} {issued_at} {address} {_mac(keys[version], (version, issued_at, address), method, path)}"


def vouched(value: str, method: str, path: str) -> str:
    """The address a genuine, fresh value for this very request vouches for; Refused for anything else."""
    parts = value.split(" ") if len(value) <= MAX_CHARS else []
    if len(parts) != 4:
        raise Refused("malformed")
    version, issued, ip, mac = parts
    if not _VERSION.match(version) or not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        raise Refused("malformed")
    if abs(clock.timestamp() - int(issued)) > MAX_SKEW_S:
        raise Refused("stale")
    if _address(ip) != ip:
        raise Refused("not an IP address in its compressed form")
    keys = _keys()
    if version not in keys and keys and number(version) == max(map(number, keys)) + 1 and _may_reload():
        # The console may have loaded a version added after this process cached the secret: reload. Only for the
        # next version and once a minute, so forged values cannot make every request a Secrets Manager call.
        keys = _keys(require=version)
    key = keys.get(version)
    if key is None:
        raise Refused("unknown key version")
    if not hmac.compare_digest(_mac(key, (version, int(issued), ip), method, path), mac):
        raise Refused("bad signature")
    return ip
