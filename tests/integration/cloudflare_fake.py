"""A fake Cloudflare API v4 on loopback: the endpoints `make edge` uses, with their envelopes, validation and auth."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import loopback

PREFIX = "/client/v4"
TOKEN = "cf-test-token-0123456789"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
SSL_MODES = {"off", "flexible", "full", "strict"}
TLS_VERSIONS = {"1.0", "1.1", "1.2", "1.3"}
ON_OFF = {"on", "off"}
RATE_PERIODS = {10, 60, 120, 300, 600, 3600}


def fresh_zone_settings() -> dict[str, Any]:
    """A new zone's defaults for the settings we manage."""
    return {
        "ssl": "full",
        "min_tls_version": "1.0",
        "tls_1_3": "on",
        "always_use_https": "off",
        "security_header": {
            "strict_transport_security": {
                "enabled": False,
                "max_age": 0,
                "include_subdomains": False,
                "preload": False,
                "nosniff": False,
            }
        },
    }


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str  # without the /client/v4 prefix
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeCloudflare:
    """The zone's state and every request; `base_url` is what the SDK is pointed at."""

    zone_name: str = "switchboard.example"
    settings: dict[str, Any] = field(default_factory=fresh_zone_settings)
    records: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    hostnames: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_rules: list[dict[str, Any]] | None = None  # None: the phase has no entry point yet (404)
    seen: list[Seen] = field(default_factory=list)
    base_url: str = ""
    _ids: int = 0

    def new_id(self) -> str:
        self._ids += 1
        return f"{self._ids:032x}"

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method != "GET"]

    # --- routing -------------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/zones", self.list_zones),
            ("GET", r"/zones/(?P<zone>[^/]+)/settings/(?P<setting>[a-z0-9_]+)", self.get_setting),
            ("PATCH", r"/zones/(?P<zone>[^/]+)/settings/(?P<setting>[a-z0-9_]+)", self.edit_setting),
            ("GET", r"/zones/(?P<zone>[^/]+)/dns_records", self.list_records),
            ("POST", r"/zones/(?P<zone>[^/]+)/dns_records", self.create_record),
            ("PATCH", r"/zones/(?P<zone>[^/]+)/dns_records/(?P<record>[0-9a-f]+)", self.edit_record),
            ("GET", r"/zones/(?P<zone>[^/]+)/origin_tls_client_auth/hostnames/certificates", self.list_certificates),
            ("POST", r"/zones/(?P<zone>[^/]+)/origin_tls_client_auth/hostnames/certificates", self.upload_certificate),
            ("GET", r"/zones/(?P<zone>[^/]+)/origin_tls_client_auth/hostnames/(?P<hostname>[^/]+)", self.get_hostname),
            ("PUT", r"/zones/(?P<zone>[^/]+)/origin_tls_client_auth/hostnames", self.put_hostnames),
            ("GET", r"/zones/(?P<zone>[^/]+)/rulesets/phases/http_ratelimit/entrypoint", self.get_rate_phase),
            ("PUT", r"/zones/(?P<zone>[^/]+)/rulesets/phases/http_ratelimit/entrypoint", self.put_rate_phase),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                params = match.groupdict()
                if "zone" in params and params.pop("zone") != ZONE_ID:
                    raise ApiError(404, 7003, "Could not route to the zone")
                return handler(query=query, body=body, **params)
        raise ApiError(404, 7000, f"No route for that URI: {method} {path}")

    # --- zones and settings --------------------------------------------------------------------------------------
    def list_zones(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        page = int(query.get("page", ["1"])[0])
        names = query.get("name", [])
        zones = [{"id": ZONE_ID, "name": self.zone_name, "status": "active"}]
        found = [z for z in zones if not names or z["name"] == names[0]] if page == 1 else []
        return 200, found, _page_info(found)

    def get_setting(self, query: dict[str, list[str]], body: Any, setting: str) -> tuple[int, Any, Any]:
        if setting not in self.settings:
            raise ApiError(404, 1003, f"Invalid or missing zone setting {setting}")
        return 200, {"id": setting, "value": self.settings[setting], "editable": True, "modified_on": None}, None

    def edit_setting(self, query: dict[str, list[str]], body: Any, setting: str) -> tuple[int, Any, Any]:
        value = _require(body, "value")
        valid = {
            "ssl": lambda v: v in SSL_MODES,
            "min_tls_version": lambda v: v in TLS_VERSIONS,
            "tls_1_3": lambda v: v in {"on", "off", "zrt"},
            "always_use_https": lambda v: v in ON_OFF,
            "security_header": lambda v: isinstance(v, dict) and isinstance(v.get("strict_transport_security"), dict),
        }
        if setting not in valid or not valid[setting](value):
            raise ApiError(400, 1007, f"Invalid value for zone setting {setting}")
        if setting == "security_header":
            merged = dict(self.settings[setting]["strict_transport_security"])
            merged.update(value["strict_transport_security"])
            value = {"strict_transport_security": merged}
        self.settings[setting] = value
        return 200, {"id": setting, "value": value, "editable": True}, None

    # --- DNS -----------------------------------------------------------------------------------------------------
    def list_records(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        page = int(query.get("page", ["1"])[0])
        found = [
            r
            for r in self.records
            if ("name.exact" not in query or r["name"] == query["name.exact"][0])
            and ("type" not in query or r["type"] == query["type"][0])
        ]
        found = found if page == 1 else []
        return 200, found, _page_info(found)

    def create_record(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        record = self._record(body)
        if any(r["name"] == record["name"] and r["type"] == record["type"] for r in self.records):
            raise ApiError(400, 81057, "Record already exists.")
        record["id"] = self.new_id()
        self.records.append(record)
        return 200, record, None

    def edit_record(self, query: dict[str, list[str]], body: Any, record: str) -> tuple[int, Any, Any]:
        (current,) = [r for r in self.records if r["id"] == record] or [None]
        if current is None:
            raise ApiError(404, 81044, "Record does not exist.")
        current.update(self._record(body))
        return 200, current, None

    def _record(self, body: Any) -> dict[str, Any]:
        for key in ("name", "type", "content", "ttl"):
            _require(body, key)
        if body["type"] != "CNAME" or not isinstance(body.get("proxied", False), bool):
            raise ApiError(400, 9000, "Invalid DNS record")
        if not (body["name"] == self.zone_name or body["name"].endswith("." + self.zone_name)):
            raise ApiError(400, 9005, "Name is not in the zone")
        return {
            "name": body["name"],
            "type": body["type"],
            "content": body["content"],
            "proxied": body.get("proxied", False),
            "ttl": body["ttl"],
        }

    # --- Authenticated Origin Pulls ------------------------------------------------------------------------------
    def list_certificates(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        return 200, [_public(c) for c in self.certificates], None

    def upload_certificate(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        certificate, private_key = _require(body, "certificate"), _require(body, "private_key")
        if "BEGIN CERTIFICATE" not in certificate or "PRIVATE KEY" not in private_key:
            raise ApiError(400, 1402, "Invalid certificate or key")
        stored = {"id": self.new_id(), "certificate": certificate, "private_key": private_key, "status": "active"}
        self.certificates.append(stored)
        return 200, _public(stored), None

    def get_hostname(self, query: dict[str, list[str]], body: Any, hostname: str) -> tuple[int, Any, Any]:
        if hostname not in self.hostnames:
            raise ApiError(404, 1404, "Hostname not associated")
        return 200, self.hostnames[hostname], None

    def put_hostnames(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        results = []
        for entry in _require(body, "config"):
            if not any(c["id"] == entry.get("cert_id") for c in self.certificates):
                raise ApiError(400, 1405, "Unknown certificate")
            stored = {"hostname": entry["hostname"], "cert_id": entry["cert_id"], "enabled": entry.get("enabled")}
            self.hostnames[entry["hostname"]] = stored
            results.append(stored)
        return 200, results, None

    # --- rate limiting rules -------------------------------------------------------------------------------------
    def get_rate_phase(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        if self.rate_rules is None:
            raise ApiError(404, 10003, "could not find entrypoint ruleset in the http_ratelimit phase")
        return 200, self._ruleset(), None

    def put_rate_phase(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, Any]:
        rules = []
        for rule in _require(body, "rules"):
            limit = rule.get("ratelimit") or {}
            if not rule.get("expression") or rule.get("action") not in {"block", "managed_challenge", "log"}:
                raise ApiError(400, 20021, "invalid rule")
            if "cf.colo.id" not in limit.get("characteristics", []) or limit.get("period") not in RATE_PERIODS:
                raise ApiError(400, 20120, "ratelimit: cf.colo.id is required and the period must be allowed")
            rules.append({**rule, "id": rule.get("id") or self.new_id(), "version": "1"})
        self.rate_rules = rules
        return 200, self._ruleset(), None

    def _ruleset(self) -> dict[str, Any]:
        return {
            "id": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
            "kind": "zone",
            "name": "default",
            "phase": "http_ratelimit",
            "version": "1",
            "last_updated": "2026-12-01T00:00:00Z",
            "rules": self.rate_rules or [],
        }


def _public(certificate: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in certificate.items() if k != "private_key"}


def _require(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise ApiError(400, 1001, f"{key} is required")
    return body[key]


def _page_info(items: list[Any]) -> dict[str, int]:
    return {"page": 1, "per_page": 100, "count": len(items), "total_count": len(items), "total_pages": 1}


@contextmanager
def serve(fake: FakeCloudflare | None = None) -> Iterator[FakeCloudflare]:
    """Run `fake` (a new empty zone by default) on a free loopback port until the block ends."""
    state = fake or FakeCloudflare()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = parts.path.removeprefix(PREFIX)
            state.seen.append(Seen(self.command, path, parse_qs(parts.query), body, dict(self.headers.items())))
            try:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}" or self.headers.get("X-Auth-Key"):
                    raise ApiError(403, 10000, "Authentication error")
                if not parts.path.startswith(PREFIX + "/"):
                    raise ApiError(404, 7000, "No route for that URI")
                status, result, info = state.handle(self.command, path, parse_qs(parts.query), body)
                answer: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
                if info is not None:
                    answer["result_info"] = info
            except ApiError as error:
                status = error.status
                answer = {"success": False, "errors": [{"code": error.code, "message": error.message}], "result": None}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with loopback.serving(Handler) as server:
        state.base_url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
        yield state
