"""Secrets Manager values, cached in memory for at most 15 minutes (rotation takes effect within that)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from switchboard import settings
from switchboard.dal import clients

MAX_AGE_S = 900.0

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def get_json(env: str, *, require: str | None = None) -> dict[str, Any]:
    """The JSON secret named by the catalog env var `env` (e.g. PEPPERS_SECRET).

    `require`: a key the caller needs. A cached value without it is reloaded at once: another function may have
    written a hash under a version added after this process cached the secret (a rotation, docs/runbooks.md).
    """
    # The function's own variable first, the cache second: in one process (the local stack) a function that is not
    # granted the secret must fail as deployed, not read what another function cached.
    secret_id = settings.get().secret(env)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(secret_id)
        if cached is not None and now - cached[0] < MAX_AGE_S and (require is None or require in cached[1]):
            return cached[1]
    value: dict[str, Any] = json.loads(
        clients.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    )
    with _lock:
        _cache[secret_id] = (now, value)
    return value


def forget() -> None:
    """Drop cached secrets (tests, and a forced reload after rotation)."""
    with _lock:
        _cache.clear()
