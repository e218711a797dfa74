"""The operator API's HTTP client: every request SigV4-signed (service execute-api) with botocore's signer."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"
LOCAL_ENDPOINT = "http://127.0.0.1:8080"
FILE_ENV = "SWITCHBOARD_OPERATORS_FILE"  # the same variable the local stack writes its credentials to
DEFAULT_FILE = Path(__file__).resolve().parents[1] / ".local" / "operators.json"
TIMEOUT_S = 30
USER_AGENT = "switchboard-ops"
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


class UsageError(Exception):
    """The command cannot run as given (no such profile, no credentials, no region): told, exit 2."""


class Unreachable(Exception):
    """The endpoint did not answer (not running, wrong URL, timeout)."""


class Problem(Exception):
    """The API answered with an error (RFC 9457 problem+json, or API Gateway's own refusal)."""

    def __init__(self, status: int, document: dict[str, Any]) -> None:
        self.status = status
        self.document = document
        self.code = str(document.get("code") or "")
        self.detail = str(document.get("detail") or document.get("message") or document.get("title") or "")
        super().__init__(f"{status} {self.code}: {self.detail}")


def operators_file() -> Path:
    """Where `make dev` wrote the local operator credentials."""
    return Path(os.environ.get(FILE_ENV) or DEFAULT_FILE)


@dataclass
class Client:
    """Signs and sends requests to one operator API endpoint as one operator."""

    endpoint: str
    region: str
    credentials: Credentials = field(repr=False)

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer (None for 204), or raise Problem / Unreachable."""
        url = self.endpoint.rstrip("/") + path + (f"?{urlencode(sorted(query.items()))}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        signed = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self.credentials, SERVICE, self.region).add_auth(signed)
        # The endpoint is an http(s) URL (_checked_endpoint): no file: or custom scheme reaches urllib.
        request = urllib.request.Request(url, data=data, method=method, headers=dict(signed.headers.items()))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise Problem(error.code, _document(error.read(), error.code)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise Unreachable(f"{self.endpoint} did not answer: {getattr(error, 'reason', error)}") from None
        return json.loads(raw) if raw else None


def _document(raw: bytes, status: int) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    return {"status": status, "detail": raw.decode(errors="replace")[:300] or f"HTTP {status}"}


def _checked_endpoint(endpoint: str) -> str:
    if urlsplit(endpoint).scheme not in {"http", "https"}:
        raise UsageError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
    return endpoint


def local_client(profile: str, endpoint: str | None, path: Path | None = None) -> Client:
    """A client signing as one of `make dev`'s operators (their keys in .local/operators.json)."""
    source = path or operators_file()
    try:
        document = json.loads(source.read_text())
    except FileNotFoundError:
        raise UsageError(f"no {source}: start the local stack (make dev) first, or use --aws") from None
    profiles = document.get("profiles") or {}
    if profile not in profiles:
        raise UsageError(f"no operator profile {profile!r} in {source} (there are: {', '.join(sorted(profiles))})")
    entry = profiles[profile]
    credentials = Credentials(entry["access_key_id"], entry["secret_access_key"])
    chosen = _checked_endpoint(endpoint or document.get("endpoint") or LOCAL_ENDPOINT)
    return Client(chosen, str(document.get("region") or "eu-west-1"), credentials)


def aws_client(endpoint: str | None, region: str | None, profile: str | None) -> Client:
    """A client signing with the standard AWS credential chain (an assumed operator role, with MFA)."""
    if not endpoint:
        raise UsageError("--aws needs --endpoint https://<ops api id>.execute-api.<region>.amazonaws.com/<stage>")
    import boto3  # noqa: PLC0415 - only the deployed path needs the session machinery

    session = boto3.session.Session(profile_name=profile)
    found = _EXECUTE_API_HOST.fullmatch(urlsplit(endpoint).hostname or "")
    chosen_region = region or (found["region"] if found else None) or session.region_name
    if not chosen_region:
        raise UsageError("no region: pass --region or use the execute-api URL")
    resolved = session.get_credentials()
    if resolved is None:
        raise UsageError("no AWS credentials: assume an operator role with MFA first (docs/operators.md)")
    frozen: ReadOnlyCredentials = resolved.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise UsageError("the AWS credential chain gave no access key")
    credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    return Client(_checked_endpoint(endpoint), chosen_region, credentials)
