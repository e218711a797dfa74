"""Records every AWS call a catalog function (or the secret seeder) makes, in catalog terms, for docs/permissions.md.

Installed by the test suite (tests/conftest.py) and, when SWITCHBOARD_CALLS_DIR names a directory, by the local
stack (`python -m local`). It wraps botocore's `BaseClient._make_api_call`, which every client goes through (ours,
PynamoDB's, Powertools'), finds the calling function from the call stack (the nearest frame of a module
`functions.<code>.handler`, or the seeder's `infra.seeder.index`) and names the resource by its catalog id. Each
process appends the calls it had not seen yet to its own `calls-<pid>.jsonl`; the test session merges the files.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from switchboard import catalog, settings

ENV = "SWITCHBOARD_CALLS_DIR"
SEEDER = "seeder"  # the secret seeder custom resource of the data stack
_HANDLER_MODULE = re.compile(r"^functions\.(\w+)\.handler$")
_SEEDER_MODULE = "infra.seeder.index"
AUDIT_MAC_KEY = "AuditMac"  # the audit chain's HMAC key (AUDIT_MAC_KEY_ID)
ANCHORS_BUCKET = "AuditAnchors"  # the audit anchors bucket (AUDIT_ANCHOR_BUCKET)
STATUS_PAGE_BUCKET = "StatusPage"  # the static status page's bucket (status_page_job's configuration)
METRICS = "Metrics"  # CloudWatch metric reads: GetMetricData has no resource-level permission
RECEIPT_KEY = "Receipt"  # the deletion receipts' signing key (RECEIPT_KEY_ID)


def _functions_of(code: str) -> tuple[str, ...]:
    # Several catalog functions may run one code folder (a send worker per channel): a call is each one's call.
    return tuple(sorted(f.name for f in catalog.FUNCTIONS if f.code == code))


def caller() -> tuple[str, ...]:
    """The catalog functions (or the seeder) whose code is on this thread's stack, else the function whose scope
    the thread runs in; () when none is."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == _SEEDER_MODULE:
            return (SEEDER,)
        match = _HANDLER_MODULE.match(module)
        if match:
            # Inside a function scope (the local stack's Invoker, the tests' as_deployed) the scope names the one
            # function of a shared code folder that runs, e.g. which channel's send worker.
            names, scope = _functions_of(match.group(1)), settings.current_scope()
            return (scope.service,) if scope is not None and scope.service in names else names
        frame = frame.f_back  # type: ignore[assignment]
    # A worker thread of a function (a pool that runs each task in a copy of the invocation's contextvars context,
    # e.g. the receipts job's status checks) has no handler frame, but it has the function's scope.
    scope = settings.current_scope()
    if scope is not None and catalog.find(scope.service) is not None:
        return (scope.service,)
    return ()


def _tail(name: str) -> str:
    # A table name, queue URL, secret ARN or name: the last path segment, without a secret ARN's random suffix.
    tail = re.split(r"[/:]", name.rstrip("/"))[-1]
    return re.sub(r"-[A-Za-z0-9]{6}$", "", tail) if name.startswith("arn:aws:secretsmanager") else tail


def _by_env(specs: tuple[Any, ...], value: str) -> str | None:
    for spec in specs:
        configured = os.environ.get(spec.env)
        if configured and (configured == value or _tail(configured) == _tail(value)):
            return str(spec.id)
    return None


def _by_suffix(specs: tuple[Any, ...], value: str) -> str | None:
    tail = _tail(value).lower()
    for spec in sorted(specs, key=lambda s: -len(s.id)):
        ident = spec.id.lower()
        if tail.endswith((f"-{ident}-dlq", f"{ident}dlq")):
            return f"{spec.id}DLQ"
        if tail == ident or tail.endswith((f"-{ident}", f"/{ident}")):
            return str(spec.id)
    return None


def catalog_id(kind: str, physical: str) -> str:
    """The catalog id of a table, queue or secret name/URL/ARN (`?<name>` when it is none of the catalog's)."""
    specs: tuple[Any, ...] = {"table": catalog.TABLES, "queue": catalog.QUEUES, "secret": catalog.SECRETS}[kind]
    return _by_env(specs, physical) or _by_suffix(specs, physical) or f"?{_tail(physical)}"


def _key(key_id: str) -> str:
    # Decrypt names no key (KMS reads it from the ciphertext): the only key functions decrypt with is the envelope.
    mac = os.environ.get("AUDIT_MAC_KEY_ID", "")
    if key_id and mac and (key_id == mac or _tail(key_id) == _tail(mac)):
        return AUDIT_MAC_KEY
    receipts = os.environ.get("RECEIPT_KEY_ID", "")
    if key_id and receipts and (key_id == receipts or _tail(key_id) == _tail(receipts)):
        return RECEIPT_KEY
    configured = os.environ.get("DATA_KEY_ID", "")
    if not key_id or (configured and (key_id == configured or _tail(key_id) == _tail(configured))):
        return "Envelope"
    return "?key"


def _status_page_bucket() -> str | None:
    # status_page_job's configuration names its bucket: what the calling function's scope (or this process) holds.
    try:
        bucket = json.loads(settings.get().status_page_config or "{}").get("bucket")
    except (ValueError, AttributeError):
        return None
    return str(bucket) if bucket else None


def _catalog_bucket(name: str) -> str | None:
    # A catalog bucket by the name its variable holds: this process's (tests, the local stack) or the caller's scope.
    scoped = settings.current_scope()
    for spec in catalog.BUCKETS:
        if name in (os.environ.get(spec.env), scoped.buckets.get(spec.env) if scoped is not None else None):
            return spec.id
    return None


def _object_prefix(params: dict[str, Any]) -> str:
    # The first segment of the key (or of a listing's prefix, or of a batch delete's first key): files/, incoming/.
    deleted = (params.get("Delete") or {}).get("Objects") or [{}]
    key = str(params.get("Key") or params.get("Prefix") or deleted[0].get("Key") or "")
    return key.split("/", 1)[0]


def _bucket(operation: str, params: dict[str, Any]) -> str:
    # The audit anchors (objects named by their prefix, anchors/ or archive/) and the status page (by object key);
    # a catalog bucket by the prefix an object lives under (files/, incoming/).
    bucket = params.get("Bucket")
    catalog_bucket = _catalog_bucket(str(bucket)) if bucket else None
    if catalog_bucket is not None:
        prefix = _object_prefix(params)
        return f"{catalog_bucket}/{prefix}" if prefix else catalog_bucket
    if bucket and bucket == _status_page_bucket():
        return f"{STATUS_PAGE_BUCKET}/{params.get('Key') or ''}".rstrip("/")
    if bucket != os.environ.get("AUDIT_ANCHOR_BUCKET"):
        return f"?{params.get('Bucket')}"
    key = str(params.get("Key") or "")
    return f"{ANCHORS_BUCKET}/{key.split('/', 1)[0]}" if key else ANCHORS_BUCKET


def _table_calls(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(operation, catalog_id("table", name)) for name in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        calls = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                calls.append((f"{operation}:{kind}", catalog_id("table", request["TableName"])))
        return calls
    if "TableName" not in params:
        return [(operation, "*")]
    resource = catalog_id("table", params["TableName"])
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [(operation, resource)]


def calls_of(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:  # noqa: PLR0911 - one per service
    """(operation, catalog resource) for one API call; a transaction or batch names each table it touches."""
    if service == "dynamodb":
        return _table_calls(operation, params)
    if service == "sqs":
        return [(operation, catalog_id("queue", params.get("QueueUrl") or params.get("QueueName") or "?"))]
    if service == "secretsmanager":
        return [(operation, catalog_id("secret", str(params.get("SecretId", "?"))))]
    if service == "kms":
        return [(operation, _key(str(params.get("KeyId", ""))))]
    if service in ("ses", "sesv2"):
        return [(operation, "MailIdentity")]
    if service == "s3":
        return [(operation, _bucket(operation, params))]
    if service == "cloudwatch":
        return [(operation, METRICS)]
    return [(operation, "*")]


class Recorder:
    """Appends each new (function, service, operation, resource) of this process to `<directory>/calls-<pid>.jsonl`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"calls-{os.getpid()}.jsonl"
        self._seen: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()

    def record(self, functions: tuple[str, ...], service: str, operation: str, params: dict[str, Any]) -> None:
        """Note one call of `functions` (written once per process)."""
        rows = {
            (fn, service, op, resource) for fn in functions for op, resource in calls_of(service, operation, params)
        }
        with self._lock:
            new = sorted(rows - self._seen)
            if not new:
                return
            self._seen.update(new)
            with self.path.open("a") as out:
                out.writelines(json.dumps(row) + "\n" for row in new)


_installed: Recorder | None = None


def install(directory: Path) -> Recorder:
    """Wrap botocore's API call entry point (once per process) so every function's call is recorded."""
    global _installed  # noqa: PLW0603 - one hook per process, like botocore's own class
    if _installed is not None:
        return _installed
    from botocore.client import BaseClient  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    recorder = _installed = Recorder(directory)
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private in botocore's stubs

    def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        functions = caller()
        if functions:
            service = self.meta.service_model.service_name
            recorder.record(functions, service, operation_name, api_params)
        return original(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", _make_api_call)  # noqa: B010
    _record_cold_starts(recorder)
    return recorder


def _record_cold_starts(recorder: Recorder) -> None:
    """Record the calls a function's own cold process makes where this shared process answers from its caches.

    Deployed, each function caches only what it fetched itself; here (tests, the local stack) functions share one
    process, so a secret or an account's data key that another function fetched first would hide the call.
    """
    from switchboard.crypto import envelope, secret_store  # noqa: PLC0415 - the shared package, once installed

    get_json, data_key = secret_store.get_json, envelope.data_key

    def recorded_get_json(env: str, *, require: str | None = None) -> dict[str, Any]:
        functions = caller()
        spec = next((s for s in catalog.SECRETS if s.env == env), None)
        if functions and spec is not None:
            recorder.record(functions, "secretsmanager", "GetSecretValue", {"SecretId": f"switchboard/{spec.id}"})
        return get_json(env) if require is None else get_json(env, require=require)

    def recorded_data_key(account_id: str) -> bytes:
        functions = caller()
        if functions:
            # The wrapped data key, then its account's key-encryption key (crypto.envelope).
            for table in (catalog.KEYRING, catalog.KEK_TABLE):
                recorder.record(functions, "dynamodb", "GetItem", {"TableName": f"switchboard-{table}"})
            recorder.record(functions, "kms", "Decrypt", {})
        return data_key(account_id)

    setattr(secret_store, "get_json", recorded_get_json)  # noqa: B010 - the module's own callers look it up there
    setattr(envelope, "data_key", recorded_data_key)  # noqa: B010
    _record_presigned(recorder)


def _record_presigned(recorder: Recorder) -> None:
    """A presigned PUT is signed without an AWS call, then made by the client with the function's credentials: it
    is the function's PutObject (its role must allow it), recorded when the URL is made."""
    from switchboard.dal import files  # noqa: PLC0415

    presigned_put = files.presigned_put

    def recorded_presigned_put(key: str, *, content_type: str, size: int, expires_s: int) -> str:
        functions = caller()
        if functions:
            recorder.record(functions, "s3", "PutObject", {"Bucket": files.bucket_name(), "Key": key})
        return presigned_put(key, content_type=content_type, size=size, expires_s=expires_s)

    setattr(files, "presigned_put", recorded_presigned_put)  # noqa: B010


def install_from_environment() -> None:
    """The local stack's entry point: record when SWITCHBOARD_CALLS_DIR is set."""
    directory = os.environ.get(ENV)
    if directory:
        install(Path(directory))


def read(directory: Path) -> set[tuple[str, str, str, str]]:
    """Every call recorded in `directory` by any process."""
    rows: set[tuple[str, str, str, str]] = set()
    for path in sorted(directory.glob("calls-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                function, service, operation, resource = json.loads(line)
                rows.add((function, service, operation, resource))
    return rows
