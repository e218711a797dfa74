"""Local operator credentials (`.local/operators.json`, 0600) and the SigV4 check the local gateway runs for them."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import string
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.provision import ACCOUNT_ID, REGION, STAGE
from switchboard import operators

FILE_ENV = "SWITCHBOARD_OPERATORS_FILE"  # tests point each stack at its own file
DEFAULT_FILE = Path(__file__).resolve().parents[1] / ".local" / "operators.json"
SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)  # API Gateway refuses a signature more than 5 minutes from its clock
TIMESTAMP = "%Y%m%dT%H%M%SZ"
# alice and bob: two security operators (the two-person rule needs two); carol: support.
DEFAULT_OPERATORS: tuple[tuple[str, operators.OperatorRole], ...] = (
    ("alice", operators.OperatorRole.SECURITY),
    ("bob", operators.OperatorRole.SECURITY),
    ("carol", operators.OperatorRole.SUPPORT),
)
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_file_lock = threading.Lock()


@dataclass(frozen=True)
class Credential:
    """One operator's local access key: who it is, their role and whether they have MFA."""

    name: str
    access_key_id: str
    secret_access_key: str
    role: str
    mfa: bool = True

    @property
    def user_arn(self) -> str:
        """The assumed-role ARN API Gateway would report for this operator's signed request."""
        return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{operators.role_name(STAGE, self.role)}/{self.name}"

    @property
    def role_id(self) -> str:
        """A stable stand-in for the role's unique id (AROA…), as `caller` and `user` carry it."""
        return "AROA" + sha256(operators.role_name(STAGE, self.role).encode()).hexdigest()[:17].upper()


def path_from_environment() -> Path:
    """Where this process keeps its operator credentials."""
    return Path(os.environ.get(FILE_ENV) or DEFAULT_FILE)


def new_credential(name: str, role: operators.OperatorRole | str, *, mfa: bool = True) -> Credential:
    """A fresh random key pair (a key id like AWS's, a 40-character secret) for one operator."""
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return Credential(name, key_id, secrets.token_urlsafe(30), str(operators.OperatorRole(role)), mfa)


def _write(path: Path, document: dict[str, Any]) -> None:
    # Written to a 0600 file beside it, then renamed: a reader never sees half a file or a wider mode.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".operators-", suffix=".json")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump(document, out, indent=2)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _document(endpoint: str, credentials: list[Credential]) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "region": REGION,
        "service": SERVICE,
        "profiles": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in credentials},
    }


def issue(path: Path, endpoint: str) -> list[Credential]:
    """New credentials for alice, bob (security) and carol (support), all with MFA: they replace any earlier ones."""
    issued = [new_credential(name, role) for name, role in DEFAULT_OPERATORS]
    with _file_lock:
        _write(path, _document(endpoint, issued))
    return issued


def add(path: Path, name: str, role: operators.OperatorRole | str, *, mfa: bool = True) -> Credential:
    """Add (or replace) one operator's credential in the file, e.g. an operator without MFA for a test."""
    credential = new_credential(name, role, mfa=mfa)
    with _file_lock:
        document = json.loads(path.read_text())
        document["profiles"][name] = {k: v for k, v in asdict(credential).items() if k != "name"}
        _write(path, document)
    return credential


def load(path: Path) -> dict[str, Credential]:
    """Every credential in the file, by operator name (an absent file holds none)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {name: Credential(name=name, **fields) for name, fields in document.get("profiles", {}).items()}


class Keys:
    """The operator access keys the gateway accepts: the file, read again whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._by_key: dict[str, Credential] = {}
        self._lock = threading.Lock()

    def find(self, access_key_id: str) -> Credential | None:
        """The credential with this access key id, or None."""
        with self._lock:
            try:
                stat = self.path.stat()
                version: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                version = None
            if version != self._seen:
                self._by_key = {c.access_key_id: c for c in load(self.path).values()} if version else {}
                self._seen = version
            return self._by_key.get(access_key_id)


class SignatureRefused(Exception):
    """The request is not validly signed by a known operator key (API Gateway's IAM auth answers 403)."""


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse(header: str) -> _Authorization:
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        raise SignatureRefused("not a SigV4 signature")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in fields:
            raise SignatureRefused("malformed Authorization")
        fields[name] = value
    try:
        access_key_id, date, region, service, terminator = fields["Credential"].split("/")
        signed = tuple(fields["SignedHeaders"].split(";"))
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise SignatureRefused("malformed Authorization") from None
    if terminator != "aws4_request" or list(signed) != sorted(set(signed)):
        raise SignatureRefused("malformed credential scope or signed headers")
    return _Authorization(access_key_id, date, region, service, signed, signature)


def verify(
    keys: Keys,
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: datetime | None = None,
) -> Credential:
    """The operator whose key signed this request (SigV4, service execute-api, this stack's region), else raise.

    The signature is recomputed with botocore's own signer over what was received (method, raw path and query,
    the signed headers, the body's SHA-256) and compared in constant time. Refused: no or another scheme, an
    unknown key, another region or service, `host` or `x-amz-date` unsigned, an X-Amz-Date more than 5 minutes
    from now (a replay of an expired signature), a body other than the one signed.
    """
    values = [v for k, v in headers if k.lower() == "authorization"]
    if len(values) != 1:
        raise SignatureRefused("exactly one Authorization header")
    auth = _parse(values[0])
    if auth.region != REGION or auth.service != SERVICE:
        raise SignatureRefused("credential scope of another region or service")
    if not {"host", "x-amz-date"} <= set(auth.signed_headers):
        raise SignatureRefused("host and x-amz-date must be signed")
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower(), []).append(value)
    stamp = _fresh_timestamp(received, auth, now or datetime.now(UTC))
    digest = sha256(body).hexdigest()
    content_hash = received.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != [digest]:
        raise SignatureRefused("X-Amz-Content-SHA256 is not the body's")
    credential = keys.find(auth.access_key_id)
    if credential is None:
        raise SignatureRefused("unknown access key")
    request = AWSRequest(method=method.upper(), url=f"http://{_one(received, 'host')}{target}", data=body)
    for name in auth.signed_headers:
        if name not in received:
            raise SignatureRefused(f"signed header {name} missing")
        for value in received[name]:
            request.headers[name] = value
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(credential.access_key_id, credential.secret_access_key), SERVICE, REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
        raise SignatureRefused("signature does not match")
    return credential


def _fresh_timestamp(received: dict[str, list[str]], auth: _Authorization, now: datetime) -> str:
    stamp = _one(received, "x-amz-date")
    try:
        signed_at = datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("X-Amz-Date in ISO 8601 basic format") from None
    if abs(now - signed_at) > MAX_SKEW or stamp[:8] != auth.date:
        raise SignatureRefused("signature expired or not yet valid")
    return stamp


def _one(received: dict[str, list[str]], name: str) -> str:
    found = received.get(name, [])
    if len(found) != 1:
        raise SignatureRefused(f"exactly one {name} header")
    return found[0]


def identity(credential: Credential, request_identity: dict[str, Any]) -> dict[str, Any]:
    """`requestContext.identity` as API Gateway fills it for an IAM-authorized call by this operator."""
    principal = f"{credential.role_id}:{credential.name}"
    return {
        **request_identity,
        "accessKey": credential.access_key_id,
        "accountId": ACCOUNT_ID,
        "caller": principal,
        "user": principal,
        "userArn": credential.user_arn,
        operators.LOCAL_MFA_FIELD: "true" if credential.mfa else "false",
    }


def usage(path: Path, credentials: list[Credential]) -> str:
    """What `make dev` prints about the operator credentials it issued."""
    names = ", ".join(f"{c.name} ({c.role})" for c in credentials)
    return "\n".join(
        [
            f"  operators: {names}; SigV4 keys in {path} (0600, new at every start)",
            "     .venv/bin/switchboard-ops --profile alice whoami",
            "     .venv/bin/switchboard-ops --profile carol accounts show acct_...",
        ]
    )
