"""The one list of functions, routes, tables, queues, secrets and schedules: CDK, local/ and the functions read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeVar, get_args

from switchboard.models.permissions import SESSION_ONLY, Permission
from switchboard.operators import OPS_PREFIX, OperatorPermission

_V = TypeVar("_V")


class Auth(StrEnum):
    """Who may call a route."""

    PUBLIC = "public"  # explicit allowlist: no credentials (health, status, security.txt, signup, login, ...)
    SESSION = "session"  # session token only; authorizer result never cached
    ANY = "any"  # session token or API key; authorizer cache <= 60 s for keys
    # The separate operator API (`OpsApi`): IAM (SigV4) from an MFA-bearing operator role, never a customer credential.
    OPERATOR = "operator"


class Access(StrEnum):
    """What a function may do with a queue or secret; CDK turns each into a least-privilege grant."""

    READ = "read"  # secrets: GetSecretValue
    ROTATE = "rotate"  # secrets: GetSecretValue and PutSecretValue (a new version beside the old: secret rotation)
    SEND = "send"  # queues: SendMessage
    CONSUME = "consume"  # queues: ReceiveMessage/DeleteMessage/ChangeMessageVisibility, via the event source
    # The audit anchors bucket: READ lists and gets anchors; WRITE_ONCE also puts new objects (never overwrites,
    # never deletes, never changes a retention: the bucket is Object Lock compliance mode).
    WRITE_ONCE = "write_once"


class Op(StrEnum):
    """A DynamoDB operation a function performs on a table: its grant is exactly these (docs/permissions.md).

    A transaction's items need the item actions (TransactWriteItems with a Put needs PutItem). QUERY_GSI1,
    QUERY_GSI2 and QUERY_GSI3 are a Query on that global secondary index (its own grant, on the index ARN).
    """

    GET = "GetItem"
    BATCH_GET = "BatchGetItem"
    QUERY = "Query"
    QUERY_GSI1 = "Query:gsi1"
    QUERY_GSI2 = "Query:gsi2"
    QUERY_GSI3 = "Query:gsi3"
    SCAN = "Scan"
    PUT = "PutItem"
    UPDATE = "UpdateItem"
    DELETE = "DeleteItem"
    BATCH_WRITE = "BatchWriteItem"
    CONDITION_CHECK = "ConditionCheckItem"

    @property
    def action(self) -> str:
        """The IAM action."""
        return f"dynamodb:{self.value.partition(':')[0]}"

    @property
    def index_name(self) -> str | None:
        """The index this operation reads, if any."""
        return self.value.partition(":")[2] or None


def ops(*operations: Op) -> frozenset[Op]:
    """A table grant: these operations and no other."""
    return frozenset(operations)


# The audit trail (R55): append, and Query for the chain's head whose hash the next event links to.
APPEND = ops(Op.PUT, Op.QUERY)
# switchboard.api: an authenticated POST with an Idempotency-Key claims and completes a record (conditional Puts)
# and deletes its claim when the route raises.
IDEMPOTENT_POSTS = ops(Op.PUT, Op.DELETE)


KEYRING = "Keyring"
KEK_TABLE = "KeyEncryptionKeys"
KEK_OPS = ops(Op.GET, Op.PUT, Op.DELETE)


@dataclass(frozen=True)
class Index:
    """A global secondary index (string keys, all attributes projected)."""

    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class Table:
    """A DynamoDB table: on-demand, CMK-encrypted, PITR 30 days, TTL on `expires_at` (epoch seconds)."""

    id: str  # construct id; never rename a deployed one
    env: str  # environment variable that carries the physical table name
    purpose: str
    partition_key: str = "pk"
    sort_key: str = "sk"
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str = "expires_at"
    append_only: bool = False  # no role may update or delete its items (CDK refuses such a grant)
    # False: no PITR and no AWS Backup, so a deleted item is gone from every copy at once (R61: the key-encryption
    # keys that crypto-shredding destroys must not be restorable; docs/account-lifecycle.md).
    restorable: bool = True


@dataclass(frozen=True)
class Queue:
    """A standard SQS queue with its dead-letter queue (CMK, TLS only, alarm on any DLQ message)."""

    id: str
    env: str  # environment variable that carries the queue URL
    purpose: str
    visibility_timeout_s: int = 60
    max_receive_count: int = 5
    retention_days: int = 4
    dlq_retention_days: int = 14


@dataclass(frozen=True)
class Secret:
    """A Secrets Manager secret (CMK). `generated` keys are random 256-bit values; others are set by a runbook."""

    id: str
    env: str  # environment variable that carries the secret's ARN (deployed) or name (local)
    purpose: str
    generated_keys: tuple[str, ...] = ()
    rotation: str = ""  # how it is rotated: the acknowledgement reason for AwsSolutions-SMG4
    stages: frozenset[str] | None = None  # the stages that have it (None: every stage)


class BucketAccess(StrEnum):
    """What a function may do with a catalog bucket's objects; CDK turns each into a least-privilege grant."""

    READ = "read"  # GetObject under the stored prefix
    WRITE = "write"  # PutObject under the stored prefix
    DELETE = "delete"  # every version under the stored prefix: ListBucketVersions (that prefix), DeleteObjectVersion
    # The staging prefix: PutObject (the presigned upload a client makes with the function's URL) and GetObject.
    STAGE = "stage"
    CLEAR_STAGED = "clear_staged"  # every version under the staging prefix: ListBucketVersions, DeleteObjectVersion


@dataclass(frozen=True)
class Bucket:
    """A private S3 bucket: versioned, SSE-KMS with the data key, TLS only (docs/files.md). Objects are stored under
    `<stored_prefix>/<account_id>/…`, uploads land under `<staging_prefix>/<account_id>/…` (expired after a day)."""

    id: str  # construct id; never rename a deployed one
    env: str  # environment variable that carries the bucket's name
    purpose: str
    stored_prefix: str = "files"
    staging_prefix: str = "incoming"


BUCKETS: tuple[Bucket, ...] = (
    Bucket(id="Files", env="FILES_BUCKET", purpose="customer files, each sealed with its account's data key"),
)


def bucket(bucket_id: str) -> Bucket:
    """The bucket with this id."""
    return next(b for b in BUCKETS if b.id == bucket_id)


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule that invokes a job function (retries + DLQ); the local scheduler runs it too."""

    name: str  # `POST /_local/jobs/{name}` runs it now
    every_s: int

    @property
    def expression(self) -> str:
        """The EventBridge rate expression for `every_s`."""
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if self.every_s % size == 0:
                count = self.every_s // size
                return f"rate({count} {unit}{'s' if count > 1 else ''})"
        raise ValueError(f"schedule {self.name}: {self.every_s}s is not a whole number of minutes")


# Media links (docs/files.md "Links") have a RestApi of their own, mapped at this path of the customer API's domain:
# its binaryMediaTypes are `*/*`, so API Gateway hands a carrier the file's bytes whatever it sends as Accept (the
# customer API decodes an answer only for an Accept naming a file type, and `*/*` there would turn every JSON and
# form body into base64).
LINKS_PREFIX = "/v1/media/"


def in_links_api(path: str) -> bool:
    """The route path is served by the links API (its own RestApi), not by the customer API."""
    return path.startswith(LINKS_PREFIX)


# The customer console's pages (issue 15) are a browser app on the customer API's domain: HTML forms, not the JSON
# API, so they are not in the OpenAPI document nor held to the JSON API's conventions (problem+json, request models,
# Idempotency-Key); `in_console` is the one place that tells them apart. They have a RestApi of their own, mapped at
# this path like the links API, with binaryMediaTypes `*/*`: a browser's download (a file, a recording, an export)
# is decoded to its bytes whatever Accept the browser sends (the customer API would answer base64 text).
CONSOLE_PREFIX = "/console"


def in_console(path: str) -> bool:
    """The route path is one of the console's HTML pages (not part of the JSON API's contract)."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class Api(StrEnum):
    """The RestApis of the customer domain: the customer API at its root, the others mapped below it."""

    CUSTOMER = "customer"
    LINKS = "links"  # mapped at LINKS_PREFIX
    CONSOLE = "console"  # mapped at CONSOLE_PREFIX


def api_of(path: str) -> Api:
    """The RestApi that serves this route path."""
    if in_links_api(path):
        return Api.LINKS
    return Api.CONSOLE if in_console(path) else Api.CUSTOMER


def mapping_of(api: Api) -> str:
    """The base path a mapped API sits at on the customer domain (`v1/media`, `console`)."""
    return {Api.LINKS: LINKS_PREFIX, Api.CONSOLE: CONSOLE_PREFIX}[api].strip("/")


def api_resource(path: str) -> str:
    """The route's resource in the RestApi that serves it (the proxy event's `resource`): below a mapped API's
    base path, the path without it (`/console` is that API's root, `/`)."""
    api = api_of(path)
    if api is Api.CUSTOMER:
        return path
    return "/" + path.removeprefix("/" + mapping_of(api)).lstrip("/")


@dataclass(frozen=True)
class Route:
    """One API Gateway method that proxies to a function, and its policy (enforced by `api.route_policy`).

    `permission` has no default: every route states what the caller's role must hold, or `None` (any role, or a
    public route). `reauth`: a session that logged in or re-authenticated within the last 5 minutes (R24).
    An operator route (Auth.OPERATOR, path under /ops/v1/) states an operator permission; no other route may.
    """

    method: str
    path: str  # API Gateway template, e.g. /v1/messages/{id}
    auth: Auth
    summary: str
    permission: Permission | OperatorPermission | None = field(kw_only=True)
    reauth: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        where = f"{self.method} {self.path}"
        if self.auth is Auth.PUBLIC and (self.permission is not None or self.reauth):
            raise ValueError(f"{where}: a public route has no permission and no re-authentication")
        if self.reauth and self.auth is not Auth.SESSION:
            raise ValueError(f"{where}: re-authentication is a session's: make it Auth.SESSION")
        if self.permission in SESSION_ONLY and self.auth is not Auth.SESSION:
            raise ValueError(f"{where}: {self.permission} is exercised from a session only (API.md)")
        operator_path = self.path.startswith(OPS_PREFIX) or self.path.rstrip("/") == OPS_PREFIX.rstrip("/")
        if self.auth is Auth.OPERATOR:
            if not isinstance(self.permission, OperatorPermission):
                raise ValueError(f"{where}: an operator route states an operator permission (switchboard.operators)")
            if not self.path.startswith(OPS_PREFIX):
                raise ValueError(f"{where}: operator routes live under {OPS_PREFIX}")
        elif isinstance(self.permission, OperatorPermission) or operator_path:
            raise ValueError(f"{where}: operator permissions and {OPS_PREFIX} belong to Auth.OPERATOR routes only")
        if in_links_api(self.path) and (self.auth is not Auth.PUBLIC or self.method != "GET"):
            raise ValueError(f"{where}: the links API under {LINKS_PREFIX} serves public GETs only")


class Carries(StrEnum):
    """What a promised environment variable carries (infra.environment resolves each for its stack)."""

    TABLE = "table"  # a table's physical name
    QUEUE = "queue"  # a queue's URL
    SECRET = "secret"  # noqa: S105 - a secret's ARN (deployed) or name (local), never a secret value
    DATA_KEY = "data_key"  # the envelope key's id or ARN
    AUDIT_MAC_KEY = "audit_mac_key"  # the audit trail's KMS HMAC key
    ANCHOR_BUCKET = "anchor_bucket"  # the audit anchors bucket's name
    MAIL_FROM = "mail_from"  # the stage's SES sender
    AUDIT_RETENTION_DAYS = "audit_retention_days"  # the stage's audit retention
    PUBLIC_BASE_URL = "public_base_url"  # the stage's API origin (carrier callbacks, e-mailed links)
    SECURITY_CONTACT = "security_contact"  # the stage's security.txt contact
    SECURITY_POLICY_URL = "security_policy_url"  # the stage's security policy
    RECEIPT_KEY = "receipt_key"  # the deletion receipts' KMS signing key (asymmetric, ECC_NIST_P256)
    BUCKET = "bucket"  # a catalog bucket's name


AUDIT_ANCHOR_BUCKET_ENV = "AUDIT_ANCHOR_BUCKET"  # the audit anchors bucket's name (the bucket is the audit stack's)


@dataclass(frozen=True)
class Variable:
    """One environment variable a function's entry promises it: the stacks set it, settings require it."""

    name: str
    carries: Carries
    resource: str = ""  # the table, queue or secret id (Carries.TABLE, QUEUE, SECRET)


@dataclass(frozen=True)
class Function:
    """One Lambda: its folder under functions/, what invokes it and what it may touch."""

    name: str  # the function's own name (construct id, alarms, local job/worker names)
    description: str
    routes: tuple[Route, ...] = ()
    schedule: Schedule | None = None
    consumes: str | None = None  # queue id whose event source invokes it
    batch_size: int = 10
    tables: Mapping[str, frozenset[Op]] = field(default_factory=lambda: MappingProxyType({}))
    queues: Mapping[str, Access] = field(default_factory=lambda: MappingProxyType({}))
    secrets: Mapping[str, Access] = field(default_factory=lambda: MappingProxyType({}))
    buckets: Mapping[str, frozenset[BucketAccess]] = field(default_factory=lambda: MappingProxyType({}))
    memory_mb: int = 512
    timeout_s: int = 10
    uses_data_key: bool = False  # kms:Decrypt on the envelope key: opens per-account data keys (DATA_KEY_ID)
    creates_data_keys: bool = False  # kms:GenerateDataKey on it too: gives new accounts their data key
    sends_email: bool = False  # needs ses:SendEmail from the configured sender (MAIL_FROM)
    # R55: kms:VerifyMac on the audit HMAC key (every Audit writer has kms:GenerateMac: writes_audit), and access to
    # the anchors bucket (AUDIT_ANCHOR_BUCKET).
    verifies_audit: bool = False
    audit_anchors: Access | None = None
    # R61: deletion receipts. Signers get kms:Sign (and GetPublicKey), publishers GetPublicKey only
    # (RECEIPT_KEY_ID either way).
    signs_deletion_receipts: bool = False
    publishes_receipt_key: bool = False
    code: str = ""  # folder under functions/ (entry point handler.lambda_handler); defaults to `name`

    def __post_init__(self) -> None:
        if not self.code:
            # Several functions may share one folder (one send worker per channel queue).
            object.__setattr__(self, "code", self.name)
        # A data key opens only with its account's key-encryption key (crypto.envelope): whoever gets, puts or
        # deletes Keyring items does the same on KeyEncryptionKeys, and nothing more (no Scan, Query or Update).
        kek = self.tables.get(KEYRING, frozenset()) & KEK_OPS
        if kek and KEK_TABLE not in self.tables:
            object.__setattr__(self, "tables", MappingProxyType({**self.tables, KEK_TABLE: kek}))

    @property
    def writes_audit(self) -> bool:
        """Appends audit events: it MACs each with the audit key (kms:GenerateMac, AUDIT_MAC_KEY_ID)."""
        return Op.PUT in self.tables.get("Audit", frozenset())

    @property
    def uses_audit_mac(self) -> bool:
        """Needs the audit HMAC key's id (to generate or verify MACs)."""
        return self.writes_audit or self.verifies_audit

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Every variable this entry promises: the stage's published values and exactly the resources it is
        granted (call it on catalog.in_stage's copy for one stage's)."""
        promised = [
            Variable("SECURITY_CONTACT", Carries.SECURITY_CONTACT),
            Variable("SECURITY_POLICY_URL", Carries.SECURITY_POLICY_URL),
            Variable("PUBLIC_BASE_URL", Carries.PUBLIC_BASE_URL),
            *(Variable(table(t).env, Carries.TABLE, t) for t in self.tables),
            *(Variable(queue(q).env, Carries.QUEUE, q) for q in self.queues),
            *(Variable(secret(s).env, Carries.SECRET, s) for s in self.secrets),
            *(Variable(bucket(b).env, Carries.BUCKET, b) for b in self.buckets),
        ]
        if self.uses_data_key:
            promised.append(Variable("DATA_KEY_ID", Carries.DATA_KEY))
        if self.uses_audit_mac:
            promised.append(Variable("AUDIT_MAC_KEY_ID", Carries.AUDIT_MAC_KEY))
        if "Audit" in self.tables:
            promised.append(Variable("AUDIT_RETENTION_DAYS", Carries.AUDIT_RETENTION_DAYS))
        if self.audit_anchors is not None:
            promised.append(Variable(AUDIT_ANCHOR_BUCKET_ENV, Carries.ANCHOR_BUCKET))
        if self.signs_deletion_receipts or self.publishes_receipt_key:
            promised.append(Variable("RECEIPT_KEY_ID", Carries.RECEIPT_KEY))
        if self.sends_email:
            promised.append(Variable("MAIL_FROM", Carries.MAIL_FROM))
        return tuple(promised)


def _ro(mapping: dict[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(mapping)


TABLES: tuple[Table, ...] = (
    Table(
        id="Accounts",
        env="ACCOUNTS_TABLE",
        purpose="accounts, users, members, invitations, API keys, webhook endpoints, sender numbers",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
    ),
    Table(
        id="Sessions",
        env="SESSIONS_TABLE",
        purpose="sessions and single-use tokens (verification, reset, pre-auth)",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
    ),
    Table(id="Keyring", env="KEYRING_TABLE", purpose="per-account data keys, wrapped by their key-encryption key"),
    Table(
        id="KeyEncryptionKeys",
        env="KEK_TABLE",
        purpose="per-account key-encryption keys, wrapped by KMS; never in PITR or backups (R61)",
        restorable=False,
    ),
    Table(
        id="Messaging",
        env="MESSAGING_TABLE",
        purpose="recipients, consent ledger, lists, messages, broadcasts, inbound messages, webhook deliveries",
        # gsi3: an account's messages and inbound messages by the number's blind index (erasure reads only those).
        indexes=(
            Index("gsi1", "gsi1pk", "gsi1sk"),
            Index("gsi2", "gsi2pk", "gsi2sk"),
            Index("gsi3", "gsi3pk", "gsi3sk"),
        ),
    ),
    Table(id="Audit", env="AUDIT_TABLE", purpose="hash-chained audit trail, append-only", append_only=True),
    Table(id="Idempotency", env="IDEMPOTENCY_TABLE", purpose="idempotency records of POST requests and sends"),
    Table(id="Limits", env="LIMITS_TABLE", purpose="rate-limit buckets, login throttles, circuit breakers"),
    Table(id="Platform", env="PLATFORM_TABLE", purpose="status components and incidents (global, not per account)"),
)

# The channels a message travels on, declared once (one send queue and one send worker each); models, logic and
# the carriers import them from here.
Channel = Literal["sms", "whatsapp", "voice"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

QUEUES: tuple[Queue, ...] = (
    *(
        Queue(id=f"{channel.capitalize()}Send", env=f"{channel.upper()}_QUEUE_URL", purpose=f"{channel} sends")
        for channel in CHANNELS
    ),
    # Customer webhooks retry with backoff for at least 24 h: the worker hides a failed job until its next attempt
    # (30 s doubling to 1 h: 36 attempts span ~29 h, switchboard.models.webhooks.MAX_ATTEMPTS), then the DLQ.
    # The visibility timeout covers a batch (at most two 5 s delivery deadlines: logic.webhooks.deliver_batch).
    Queue(
        id="Callbacks",
        env="CALLBACKS_QUEUE_URL",
        purpose="customer webhook deliveries",
        visibility_timeout_s=60,
        max_receive_count=36,
        retention_days=4,
    ),
    # Platform e-mail (verification, reset, invitations, notices) and the signup and reset work behind it: the
    # request path only enqueues, so its work and time do not depend on whether an address exists (R8), and an
    # SES failure is retried by the worker (5 receives, then the DLQ) instead of failing a request.
    Queue(id="Mail", env="MAIL_QUEUE_URL", purpose="platform e-mail and the signup/reset work behind it"),
    # Issue 14: files the carriers keep for us (call recordings): fetched, stored sealed, deleted at the carrier.
    # A failed fetch or carrier delete comes back after the visibility timeout (5 receives, then the DLQ's alarm).
    Queue(
        id="CarrierMedia",
        env="CARRIER_MEDIA_QUEUE_URL",
        purpose="call recordings and inbound messages' files to fetch from the carriers and keep sealed",
        visibility_timeout_s=120,
    ),
)

SECRETS: tuple[Secret, ...] = (
    Secret(
        id="Peppers",
        env="PEPPERS_SECRET",
        purpose="password pepper, API-key HMAC key and e-mail blind-index key, by version",
        generated_keys=("password_v1", "api_key_v1", "blind_index_v1"),
        rotation="Manual, versioned runbook (docs/runbooks.md#peppers): add v2 beside v1, re-hash on login; "
        "an automatic rotation would orphan every stored hash.",
    ),
    *(
        Secret(
            id=f"{carrier}Credentials",
            env=f"{carrier.upper()}_CREDENTIALS_SECRET",
            purpose=f"{carrier} API credentials",
            rotation=f"Issued by {carrier}; rotated by hand in the carrier console (docs/runbooks.md#carriers), "
            "which offers no API AWS could call.",
        )
        for carrier in ("WhatsApp", "Twilio", "Plivo")
    ),
    Secret(
        id="BillingCredentials",
        env="BILLING_CREDENTIALS_SECRET",
        purpose="payment provider webhook signing secret (Stripe-Signature)",
        generated_keys=("webhook_secret",),
        rotation="Issued by the payment provider, which offers no API AWS could call: rolled by hand in its "
        "dashboard (docs/runbooks.md#billing); the generated value is a placeholder that verifies nothing real.",
    ),
    Secret(
        id="SandboxCredentials",
        env="SANDBOX_CREDENTIALS_SECRET",
        purpose="signing key of the sandbox carriers (test mode, no network)",
        generated_keys=("signing_key",),
        rotation="Test-mode only and generated: replace by hand (docs/runbooks.md#sandbox) when exposed; no "
        "customer traffic depends on it.",
        # Only the stages whose rules have sandbox carriers (switchboard.settings.STAGES; a test ties the two).
        stages=frozenset({"local"}),
    ),
    Secret(
        id="ConsoleForwarding",
        env="CONSOLE_FORWARDING_SECRET",
        purpose="the HMAC key with which the console vouches to the API for its browser's address, by version",
        generated_keys=("client_ip_v1",),
        rotation="Manual, versioned runbook (docs/runbooks.md#console-forwarding): add client_ip_v2 beside v1, "
        "remove v1 a day later; the console signs with the newest and the API checks the version each value names.",
    ),
)

PURGE = Schedule(name="purge", every_s=3600)

# The Lambda REQUEST authorizer of every non-public route (deployed and in the local gateway). Its result is never
# cached (TTL 0): logout, revocation and suspension take effect on the very next request, on every route.
AUTHORIZER = "authorizer"
AUTHORIZER_CACHE_TTL_S = 0

FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="public_api",
        description="Health, public status page and security.txt",
        routes=(
            Route("GET", "/v1/health", Auth.PUBLIC, "Liveness of the API", permission=None),
            Route("GET", "/status", Auth.PUBLIC, "Platform status and incidents", permission=None),
            Route("GET", "/.well-known/security.txt", Auth.PUBLIC, "RFC 9116 security contact", permission=None),
        ),
        tables=_ro({"Platform": ops(Op.QUERY)}),
        memory_mb=256,
        timeout_s=5,
    ),
    Function(
        name="identity_api",
        description="Signup, e-mail verification, login, sessions, /me, TOTP, password reset and API keys",
        routes=(
            Route("POST", "/v1/signup", Auth.PUBLIC, "Create an account and its owner", permission=None),
            Route("POST", "/v1/email-verifications", Auth.PUBLIC, "Confirm an e-mail address", permission=None),
            Route("POST", "/v1/password-resets", Auth.PUBLIC, "E-mail a password reset link", permission=None),
            Route(
                "POST",
                "/v1/password-resets/confirm",
                Auth.PUBLIC,
                "Set a new password with a reset token",
                permission=None,
            ),
            Route("POST", "/v1/sessions", Auth.PUBLIC, "Log in", permission=None),
            Route("GET", "/v1/sessions", Auth.SESSION, "List my sessions", permission=None),
            Route("DELETE", "/v1/sessions", Auth.SESSION, "End all my sessions", permission=None),
            Route("DELETE", "/v1/sessions/current", Auth.SESSION, "Log out", permission=None),
            Route("POST", "/v1/sessions/current/reauth", Auth.SESSION, "Re-authenticate this session", permission=None),
            Route("DELETE", "/v1/sessions/{session_id}", Auth.SESSION, "End one of my sessions", permission=None),
            Route("GET", "/v1/me", Auth.SESSION, "Who am I", permission=None),
            Route("POST", "/v1/me/password", Auth.SESSION, "Change my password", permission=None, reauth=True),
            Route("POST", "/v1/me/mfa/totp", Auth.SESSION, "Start TOTP enrolment", permission=None, reauth=True),
            Route("POST", "/v1/me/mfa/totp/activate", Auth.SESSION, "Turn TOTP on", permission=None, reauth=True),
            Route("DELETE", "/v1/me/mfa/totp", Auth.SESSION, "Turn TOTP off", permission=None, reauth=True),
            Route(
                "POST",
                "/v1/me/mfa/recovery-codes",
                Auth.SESSION,
                "Regenerate the recovery codes",
                permission=None,
                reauth=True,
            ),
            Route(
                "POST",
                "/v1/api-keys",
                Auth.SESSION,
                "Create an API key",
                permission=Permission.API_KEYS_MANAGE,
                reauth=True,
            ),
            Route("GET", "/v1/api-keys", Auth.SESSION, "List API keys", permission=Permission.API_KEYS_MANAGE),
            Route(
                "DELETE",
                "/v1/api-keys/{key_id}",
                Auth.SESSION,
                "Revoke an API key",
                permission=Permission.API_KEYS_MANAGE,
                reauth=True,
            ),
            Route(
                "POST",
                "/v1/api-keys/{key_id}/rotate",
                Auth.SESSION,
                "Rotate an API key",
                permission=Permission.API_KEYS_MANAGE,
                reauth=True,
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE),
                "Sessions": ops(Op.GET, Op.PUT, Op.UPDATE, Op.DELETE, Op.QUERY_GSI1),
                "Keyring": ops(Op.GET),
                "Limits": ops(Op.PUT, Op.UPDATE, Op.DELETE),
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,
            }
        ),
        queues=_ro({"Mail": Access.SEND}),  # e-mail, and signup and reset requests (mail_worker does the work)
        secrets=_ro({"Peppers": Access.READ}),
        uses_data_key=True,
        memory_mb=1024,  # Argon2id (19 MiB, t=2) runs in well under 500 ms at this size
        timeout_s=15,
    ),
    Function(
        name="account_api",
        description="GET /v1/account, account closure and export, members and invitations, the audit trail",
        routes=(
            Route("GET", "/v1/account", Auth.ANY, "My account", permission=Permission.ACCOUNT_READ),
            Route(
                "PATCH",
                "/v1/account",
                Auth.SESSION,
                "Change my account's settings",
                permission=Permission.ACCOUNT_SETTINGS,
                reauth=True,
            ),
            Route("DELETE", "/v1/account", Auth.SESSION, "Delete my account", permission=Permission.ACCOUNT_MANAGE),
            Route("POST", "/v1/account/restore", Auth.PUBLIC, "Restore an account pending deletion", permission=None),
            Route(
                "GET",
                "/v1/account/export",
                Auth.SESSION,
                "Export every record of my account",
                permission=Permission.ACCOUNT_MANAGE,
                reauth=True,
            ),
            Route(
                "POST",
                "/v1/members",
                Auth.SESSION,
                "Invite a member",
                permission=Permission.MEMBERS_MANAGE,
                reauth=True,
            ),
            Route(
                "GET",
                "/v1/members",
                Auth.SESSION,
                "List members and pending invitations",
                permission=Permission.MEMBERS_MANAGE,
            ),
            Route(
                "PATCH",
                "/v1/members/{user_id}",
                Auth.SESSION,
                "Change a member's role",
                permission=Permission.MEMBERS_MANAGE,
                reauth=True,
            ),
            Route(
                "DELETE",
                "/v1/members/{user_id}",
                Auth.SESSION,
                "Remove a member or cancel an invitation",
                permission=Permission.MEMBERS_MANAGE,
                reauth=True,
            ),
            Route("POST", "/v1/invitations/accept", Auth.PUBLIC, "Accept an invitation", permission=None),
            Route("GET", "/v1/audit-events", Auth.ANY, "The account's audit trail", permission=Permission.AUDIT_READ),
            Route(
                "GET",
                "/v1/audit-events/verification",
                Auth.ANY,
                "Verify the audit trail's hash chain",
                permission=Permission.AUDIT_READ,
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE, Op.CONDITION_CHECK),
                # invitation links; a removed member's or a closed account's sessions
                "Sessions": ops(Op.GET, Op.PUT, Op.UPDATE, Op.DELETE, Op.QUERY_GSI1),
                "Keyring": ops(Op.GET),
                "Messaging": ops(Op.QUERY, Op.PUT),  # the export; a restore's resume marker for the release job
                "Limits": ops(Op.PUT, Op.UPDATE, Op.DELETE),
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,  # append, and Query for the list, the verification and the export
            }
        ),
        queues=_ro({"Mail": Access.SEND}),  # invitations and notices (mail_worker sends them)
        secrets=_ro({"Peppers": Access.READ}),
        uses_data_key=True,
        verifies_audit=True,  # GET /v1/audit-events/verification: MACs after the newest anchor
        audit_anchors=Access.READ,  # ... compared with the newest anchor
        memory_mb=1024,  # accepting an invitation hashes a password with Argon2id
        timeout_s=29,  # the export pages through the whole account; API Gateway waits at most 29 s
    ),
    Function(
        name="billing_events",
        description="Signed payment-provider notices: subscription plan changes (never card data)",
        routes=(Route("POST", "/v1/billing/events", Auth.PUBLIC, "Payment provider events", permission=None),),
        tables=_ro({"Accounts": ops(Op.GET, Op.PUT, Op.UPDATE), "Audit": APPEND}),
        secrets=_ro({"BillingCredentials": Access.READ}),
        memory_mb=256,
        timeout_s=10,
    ),
    Function(
        name=AUTHORIZER,
        description="REQUEST authorizer: session token (or API key) to {account_id, principal, role, ...}",
        tables=_ro(
            {
                # Reads a session or API key and touches it; no Scan, no batch, no Put (it never creates either).
                "Accounts": ops(Op.GET, Op.UPDATE),  # API keys' last_used_at
                "Sessions": ops(Op.GET, Op.UPDATE, Op.DELETE),  # touches last_seen, deletes expired sessions
                "Audit": APPEND,  # an expired session's end, a refused API key used again (R54)
                "Limits": ops(Op.UPDATE),  # the cap on denied events per actor and minute
            }
        ),
        secrets=_ro({"Peppers": Access.READ}),  # the API-key HMAC pepper
        memory_mb=512,
        timeout_s=5,
    ),
    Function(
        name="webhooks_api",
        description="Webhook endpoints: create (secret shown once), list, delete, rotate the secret, delivery log",
        routes=(
            Route(
                "POST",
                "/v1/webhook-endpoints",
                Auth.ANY,
                "Create a webhook endpoint",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
            Route(
                "GET",
                "/v1/webhook-endpoints",
                Auth.ANY,
                "List webhook endpoints",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
            Route(
                "DELETE",
                "/v1/webhook-endpoints/{endpoint_id}",
                Auth.ANY,
                "Delete a webhook endpoint",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
            Route(
                "GET",
                "/v1/webhook-endpoints/{endpoint_id}/deliveries",
                Auth.ANY,
                "A webhook endpoint's delivery log",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
            Route(
                "POST",
                "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
                Auth.ANY,
                "Rotate a webhook endpoint's signing secret (24 h overlap)",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE),  # UpdateItem: cap slots
                "Messaging": ops(Op.QUERY),  # the delivery log
                "Keyring": ops(Op.GET),  # the account's wrapped data key (endpoint secrets are sealed)
                "Limits": ops(Op.UPDATE),
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,
            }
        ),
        uses_data_key=True,
        memory_mb=512,
        timeout_s=10,
    ),
    # Issue 15: the account's event log, for developers without a public URL (`switchboard webhooks listen`).
    # Whoever may create an endpoint may read the events it would get.
    Function(
        name="events_api",
        description="The account's event log: events after a cursor, by type, long-polled; one event",
        routes=(
            Route(
                "GET",
                "/v1/events",
                Auth.ANY,
                "List the account's events (long-poll with ?wait=)",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
            Route(
                "GET",
                "/v1/events/{event_id}",
                Auth.ANY,
                "Read one event",
                permission=Permission.WEBHOOKS_MANAGE,
            ),
        ),
        tables=_ro(
            {
                "Messaging": ops(Op.GET, Op.QUERY),  # the log: the cursor's event, events after it, the newest
                "Keyring": ops(Op.GET),  # the account's wrapped data key: events are sealed
                "Limits": ops(Op.UPDATE),  # rate limits, the cap on audited refusals
                "Audit": APPEND,  # refused callers (a viewer, an agent) are audited (R54)
            }
        ),
        uses_data_key=True,
        memory_mb=256,
        # A long-poll waits up to 20 s (logic.events.MAX_WAIT_S); API Gateway answers within 29 s.
        timeout_s=29,
    ),
    Function(
        name="callback_worker",
        description="Delivers signed customer webhooks (SSRF-safe), retries with backoff for more than 24 h",
        consumes="Callbacks",
        batch_size=10,
        tables=_ro(
            {
                "Accounts": ops(Op.GET),  # endpoints and their sealed secrets; the account's standing
                # appends to the delivery log; a message's callback_url and secret; a closed account's held jobs
                "Messaging": ops(Op.GET, Op.PUT),
                "Keyring": ops(Op.GET),
                "Limits": ops(Op.GET, Op.UPDATE),  # a circuit per account and origin (slow endpoints are deferred)
            }
        ),
        queues=_ro({"Callbacks": Access.CONSUME}),  # the worker itself hides a failed job until its next attempt
        uses_data_key=True,
        memory_mb=512,
        # Origins post in parallel, each for at most two 5 s deadlines; far below the queue's visibility timeout.
        timeout_s=60,
    ),
    Function(
        name="purge_job",
        description="Purges closed accounts past their grace period (crypto-shred first), then expired items",
        schedule=PURGE,
        # Scans each table for expired items and deletes them (the audit trail is never purged).
        tables=_ro(
            {
                table.id: ops(Op.SCAN, Op.QUERY, Op.DELETE)
                for table in TABLES
                if table.restorable and table.id not in ("Audit", "Platform")
            }
            # Deletion receipts and the PURGE#DUE index live in the Accounts table.
            | {
                "Accounts": ops(Op.GET, Op.QUERY, Op.SCAN, Op.PUT, Op.UPDATE, Op.DELETE),
                "Sessions": ops(Op.QUERY, Op.SCAN, Op.DELETE, Op.QUERY_GSI1),  # a closed account's sessions
                "Platform": ops(Op.SCAN, Op.QUERY),  # nothing there expires yet; it still scans
                # Query:gsi1: conversations idle past the account's retention, by last activity (never a scan);
                # UpdateItem: retention of files, each one's bytes leave the account's storage counter
                "Messaging": ops(Op.SCAN, Op.QUERY, Op.DELETE, Op.UPDATE, Op.QUERY_GSI1),
                # KEKs deleted by key (the shred); the deletion log written (Put) and replayed (Query on its key)
                "KeyEncryptionKeys": ops(Op.DELETE, Op.PUT, Op.QUERY),
            }
        ),
        # A closed account's files: every version of its objects (stored and staged) goes with it.
        buckets=_ro({"Files": frozenset({BucketAccess.DELETE, BucketAccess.CLEAR_STAGED})}),
        signs_deletion_receipts=True,
        memory_mb=512,
        timeout_s=300,
    ),
)


def table(table_id: str) -> Table:
    """The table with this id."""
    return next(t for t in TABLES if t.id == table_id)


def queue(queue_id: str) -> Queue:
    """The queue with this id."""
    return next(q for q in QUEUES if q.id == queue_id)


RELEASE = Schedule(name="release", every_s=60)

# The send workers (one per channel queue, one code): consent re-check, pacing and breakers, attempts, callbacks.
_SEND_WORKER_TABLES = _ro(
    {
        "Accounts": ops(Op.GET, Op.QUERY),  # GetItem: the account's standing (a closed one's sends are held)
        "Keyring": ops(Op.GET),
        # Query: the receipts that outran the carrier-id mapping (switchboard.logic.receipts.apply_early)
        "Messaging": ops(Op.GET, Op.PUT, Op.UPDATE, Op.QUERY),
        "Limits": ops(Op.GET, Op.UPDATE),
    }
)
# The real carriers that serve each channel (switchboard.carriers' CHANNELS; a unit test keeps them equal). A send
# worker reads only its channel's carriers' credentials: never the billing secret, never the sandbox's signing key.
CHANNEL_CARRIERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"sms": ("Twilio", "Plivo"), "whatsapp": ("WhatsApp", "Twilio"), "voice": ("Twilio", "Plivo")}
)
_CARRIER_SECRETS = _ro({f"{carrier}Credentials": Access.READ for carrier in ("WhatsApp", "Twilio", "Plivo")})

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="recipients_api",
        description="Recipients (sealed, blind-indexed), the consent ledger and recipient lists",
        routes=(
            Route("POST", "/v1/recipients", Auth.ANY, "Create a recipient", permission=Permission.RECIPIENTS_WRITE),
            Route("GET", "/v1/recipients", Auth.ANY, "List recipients", permission=Permission.RECIPIENTS_READ),
            Route(
                "GET",
                "/v1/recipients/{recipient_id}",
                Auth.ANY,
                "Read a recipient",
                permission=Permission.RECIPIENTS_READ,
            ),
            Route(
                "DELETE",
                "/v1/recipients/{recipient_id}",
                Auth.ANY,
                "Erase a recipient",
                permission=Permission.RECIPIENTS_WRITE,
            ),
            Route(
                "POST",
                "/v1/recipients/{recipient_id}/consents",
                Auth.ANY,
                "Record consent",
                permission=Permission.RECIPIENTS_WRITE,
            ),
            Route(
                "GET",
                "/v1/recipients/{recipient_id}/consents",
                Auth.ANY,
                "Consent ledger",
                permission=Permission.RECIPIENTS_READ,
            ),
            Route("POST", "/v1/lists", Auth.ANY, "Create a list", permission=Permission.RECIPIENTS_WRITE),
            Route(
                "POST",
                "/v1/lists/{list_id}/recipients",
                Auth.ANY,
                "Add recipients to a list",
                permission=Permission.RECIPIENTS_WRITE,
            ),
            Route(
                "GET",
                "/v1/lists/{list_id}/recipients",
                Auth.ANY,
                "List a list's recipients",
                permission=Permission.RECIPIENTS_READ,
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.QUERY),
                "Keyring": ops(Op.GET),
                # erasure: marks the recipient (a transaction deleting its phone lookup), then scrubs by gsi3
                "Messaging": ops(
                    Op.GET,
                    Op.BATCH_GET,
                    Op.QUERY,
                    Op.PUT,
                    Op.UPDATE,
                    Op.DELETE,
                    Op.BATCH_WRITE,
                    Op.QUERY_GSI1,
                    Op.QUERY_GSI3,
                ),
                "Limits": ops(Op.UPDATE),
                "Audit": APPEND,
                "Idempotency": IDEMPOTENT_POSTS,
            }
        ),
        queues=_ro({"Callbacks": Access.SEND}),  # recipient.opted_out webhooks
        # erasure: the recordings of calls to the person, every object version (docs/recordings.md)
        buckets=_ro({"Files": frozenset({BucketAccess.DELETE})}),
        uses_data_key=True,
    ),
    Function(
        name="messages_api",
        description="Send messages and broadcasts (consent, quota, sealed, enqueued); message logs",
        routes=(
            Route("POST", "/v1/messages", Auth.ANY, "Send a message", permission=Permission.MESSAGES_SEND),
            Route("GET", "/v1/messages", Auth.ANY, "List messages", permission=Permission.MESSAGES_READ),
            Route(
                "GET",
                "/v1/messages/{message_id}",
                Auth.ANY,
                "Read a message's log",
                permission=Permission.MESSAGES_READ,
            ),
            Route(
                "POST",
                "/v1/messages/{message_id}/cancel",
                Auth.ANY,
                "Cancel a message not yet sent",
                permission=Permission.MESSAGES_SEND,
            ),
            Route("POST", "/v1/broadcasts", Auth.ANY, "Send to a list", permission=Permission.MESSAGES_SEND),
            Route(
                "POST", "/v1/templates", Auth.ANY, "Register a message template", permission=Permission.TEMPLATES_MANAGE
            ),
            Route("GET", "/v1/templates", Auth.ANY, "List message templates", permission=Permission.TEMPLATES_READ),
            Route(
                "GET",
                "/v1/templates/{template_id}",
                Auth.ANY,
                "Read a message template",
                permission=Permission.TEMPLATES_READ,
            ),
            Route(
                "DELETE",
                "/v1/templates/{template_id}",
                Auth.ANY,
                "Delete a message template",
                permission=Permission.TEMPLATES_MANAGE,
            ),
        ),
        tables=_ro(
            {
                # a canceled message's webhook endpoints; message templates and their cap slots (a template send
                # reads its template)
                "Accounts": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE),
                "Keyring": ops(Op.GET),
                # UpdateItem: a new message leaves the outbox (the held index) once it is on its queue
                "Messaging": ops(Op.GET, Op.BATCH_GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.BATCH_WRITE, Op.QUERY_GSI1),
                "Limits": ops(Op.UPDATE),
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,  # refused actions (403) are audited (R54)
            }
        ),
        # Callbacks: a canceled message's `message.status` webhooks
        queues=_ro({"Callbacks": Access.SEND, **{f"{c.capitalize()}Send": Access.SEND for c in CHANNELS}}),
        uses_data_key=True,
        timeout_s=29,  # a 1,000-recipient broadcast: ~150 batched calls
    ),
    *(
        Function(
            name=f"{channel}_send_worker",
            code="send_worker",
            description=f"Delivers {channel} messages: consent re-check, carrier failover, circuit breaker, pacing",
            consumes=f"{channel.capitalize()}Send",
            tables=_SEND_WORKER_TABLES,
            queues=_ro({"Callbacks": Access.SEND}),
            secrets=_ro({f"{carrier}Credentials": Access.READ for carrier in CHANNEL_CARRIERS[channel]}),
            uses_data_key=True,
            timeout_s=30,
        )
        for channel in CHANNELS
    ),
    Function(
        name="carrier_events",
        description="Carrier receipts and inbound messages (signature verified first), STOP/START/HELP",
        routes=(
            Route(
                "POST",
                "/v1/carriers/{carrier}/events",
                Auth.PUBLIC,
                "Carrier receipts and inbound messages",
                permission=None,
            ),
            Route(
                "GET", "/v1/carriers/{carrier}/events", Auth.PUBLIC, "Carrier subscription handshake", permission=None
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.GET, Op.QUERY),
                "Keyring": ops(Op.GET),
                # Query: a START reads the number's consent ledger (it restores only an opt-in that was there);
                # ConditionCheck: an inbound message is linked to its recipient only while it is not being erased;
                # DeleteItem: an event that failed midway is unmarked as seen, so the carrier's retry is applied
                "Messaging": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE, Op.CONDITION_CHECK),
                "Audit": APPEND,
            }
        ),
        # CarrierMedia: a finished recording's fetch job
        queues=_ro(
            {
                "Callbacks": Access.SEND,
                "CarrierMedia": Access.SEND,
                **{f"{c.capitalize()}Send": Access.SEND for c in CHANNELS},
            }
        ),
        # The carriers' signing keys (the sandbox's too: its events are signed like a carrier's).
        secrets=_ro({**_CARRIER_SECRETS, "SandboxCredentials": Access.READ}),
        uses_data_key=True,
    ),
    Function(
        name="release_job",
        description="Releases sends due beyond SQS's 15-minute delay; expires sends past validity_s",
        schedule=RELEASE,
        tables=_ro(
            {
                "Accounts": ops(Op.GET, Op.QUERY),  # an expired message's webhook endpoints; standings
                "Keyring": ops(Op.GET),  # the account's data key: an expired message's event is sealed with it
                # DeleteItem: a restored account's held webhook jobs and its resume marker, once released;
                # PutItem: an expired message's event in the account's event log
                "Messaging": ops(Op.GET, Op.PUT, Op.UPDATE, Op.DELETE, Op.QUERY_GSI2),
            }
        ),
        # Enqueues sealed messages as they are (it never opens one); the data key seals an expired message's event.
        uses_data_key=True,
        queues=_ro({"Callbacks": Access.SEND, **{f"{c.capitalize()}Send": Access.SEND for c in CHANNELS}}),
        timeout_s=60,
    ),
)


# Issue 14: conversations (who wrote, one timeline per recipient, agents' replies within the reply window).
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="conversations_api",
        description="Conversations: recipients who wrote (unread counts), their timelines, replies in the window",
        routes=(
            Route("GET", "/v1/conversations", Auth.ANY, "List conversations", permission=Permission.MESSAGES_READ),
            Route(
                "POST",
                "/v1/conversations/{recipient_id}/read",
                Auth.ANY,
                "Mark a conversation read",
                permission=Permission.CONTENT_READ,
            ),
            Route(
                "GET",
                "/v1/recipients/{recipient_id}/messages",
                Auth.ANY,
                "A recipient's messages, both directions",
                permission=Permission.MESSAGES_READ,
            ),
            Route(
                "POST",
                "/v1/recipients/{recipient_id}/messages",
                Auth.ANY,
                "Reply to a recipient within the reply window",
                permission=Permission.MESSAGES_SEND,
            ),
        ),
        tables=_ro(
            {
                "Accounts": ops(Op.GET),  # the account's sender number of a reply's channel
                "Keyring": ops(Op.GET),
                # GetItem/BatchGetItem: recipients and their reply windows; PutItem and UpdateItem: a reply (stored
                # held, then unheld once queued), conversations' activity and read marks; Query:gsi1 the
                # conversations by activity, Query:gsi3 a recipient's timeline by the number's blind index
                "Messaging": ops(Op.GET, Op.BATCH_GET, Op.PUT, Op.UPDATE, Op.QUERY_GSI1, Op.QUERY_GSI3),
                "Limits": ops(Op.UPDATE),  # rate limits and the daily message quota
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,  # refused actions (403) are audited (R54)
            }
        ),
        queues=_ro({f"{c.capitalize()}Send": Access.SEND for c in CHANNELS}),
        uses_data_key=True,
    ),
)


def secret(secret_id: str) -> Secret:
    """The secret with this id."""
    return next(s for s in SECRETS if s.id == secret_id)


def secrets_for(stage: str) -> tuple[Secret, ...]:
    """The secrets a stage has (the sandbox's exist only where sandbox carriers do)."""
    return tuple(s for s in SECRETS if s.stages is None or stage in s.stages)


def in_stage(fn: Function, stage: str) -> Function:
    """A function as a stage deploys it: without grants on secrets the stage does not have."""
    present = {s.id for s in secrets_for(stage)}
    if not set(fn.secrets) - present:
        return fn
    return replace(fn, secrets=_ro({k: v for k, v in fn.secrets.items() if k in present}))


def for_stage(stage: str) -> tuple[Function, ...]:
    """Every function as a stage deploys it (in_stage)."""
    return tuple(in_stage(fn, stage) for fn in FUNCTIONS)


def find(name: str | None) -> Function | None:
    """The function of this name, or None (local tooling, the bench: no catalog function)."""
    return _BY_NAME.get(name or "")


def function(name: str) -> Function:
    """The function of this name (KeyError for a name the catalog does not have)."""
    return _BY_NAME[name]


def authorizer() -> Function:
    """The authorizer function (every non-public route needs it)."""
    return function(AUTHORIZER)


def routes() -> list[tuple[Route, Function]]:
    """Every route of the customer API with the function that serves it (the operator API's: `operator_routes`)."""
    return [(route, fn) for fn in FUNCTIONS for route in fn.routes if route.auth is not Auth.OPERATOR]


def json_routes() -> list[tuple[Route, Function]]:
    """The customer API's JSON routes: `routes()` without the console's pages (what docs/openapi.json documents)."""
    return [(route, fn) for route, fn in routes() if not in_console(route.path)]


def operator_routes() -> list[tuple[Route, Function]]:
    """Every route of the separate operator API (Auth.OPERATOR) with the function that serves it."""
    return [(route, fn) for fn in FUNCTIONS for route in fn.routes if route.auth is Auth.OPERATOR]


def all_routes() -> list[tuple[Route, Function]]:
    """Every route of both APIs (the local gateway serves both on one port)."""
    return [(route, fn) for fn in FUNCTIONS for route in fn.routes]


EDGE_DRIFT = Schedule(name="edge_drift", every_s=86400)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="mail_worker",
        description="Sends platform e-mail (the only SES sender) under per-recipient limits; signup and reset work",
        consumes="Mail",
        batch_size=10,
        tables=_ro(
            {
                # signup: the e-mail lookup, the account, its owner, senders (a transaction) and a verification
                # token; reset: the user, the newest reset link
                "Accounts": ops(Op.GET, Op.PUT, Op.UPDATE),
                "Sessions": ops(Op.PUT, Op.DELETE),
                "Keyring": ops(Op.GET, Op.PUT),
                "Limits": ops(Op.UPDATE),  # per-recipient e-mail counters
                "Audit": APPEND,
            }
        ),
        queues=_ro({"Mail": Access.CONSUME}),
        secrets=_ro({"Peppers": Access.READ}),  # the blind index of a recipient, for its e-mail counters
        uses_data_key=True,
        creates_data_keys=True,  # a new account's data key
        sends_email=True,
        memory_mb=256,
        timeout_s=60,  # 10 e-mails of at most a few seconds each; equal to the queue's visibility timeout
    ),
)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="edge_drift_job",
        description="R47: compares Cloudflare's published IP ranges with the deployed allowlist; alarms on drift",
        schedule=EDGE_DRIFT,
        memory_mb=256,
        timeout_s=30,  # one HTTPS GET of at most 10 s
    ),
)

# R55: every account's audit chain head anchored where no function can change it, every 15 minutes.
AUDIT_ANCHOR = Schedule(name="audit_anchor", every_s=900)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="audit_anchor_job",
        description="R55: checks each account's new audit events (chain, MACs), archives them, anchors the head",
        schedule=AUDIT_ANCHOR,
        # Scan finds the accounts with a trail (keys only); Query reads each one's events after its last anchor.
        tables=_ro({"Audit": ops(Op.SCAN, Op.QUERY)}),
        verifies_audit=True,
        audit_anchors=Access.WRITE_ONCE,
        memory_mb=512,
        timeout_s=300,
    ),
)

# Finding 7 of issue 11: no message stays `sent` for good when its receipt never comes.
RECEIPTS = Schedule(name="receipts", every_s=300)
# Erasures that did not finish within their request (deadline, or the function died) are resumed every minute.
ERASURE = Schedule(name="erasure", every_s=60)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="receipts_job",
        description="Checks messages still `sent` with their carrier's status API, or marks them receipt_missing",
        schedule=RECEIPTS,
        tables=_ro(
            {
                "Accounts": ops(Op.QUERY),  # a settled message's webhook endpoints
                "Keyring": ops(Op.GET),  # the account's wrapped data key: a settled message's event is sealed
                # Query:gsi2 reads the sharded index of `sent` messages by due time (never a scan); PutItem: a
                # settled message's event in the account's event log; GetItem: whether its recipient is being
                # erased meanwhile (switchboard.dal.events), in which case UpdateItem empties the event again
                "Messaging": ops(Op.GET, Op.PUT, Op.UPDATE, Op.QUERY_GSI2),
            }
        ),
        uses_data_key=True,
        queues=_ro({"Callbacks": Access.SEND}),  # message.status of a settled message
        secrets=_ro({f"{carrier}Credentials": Access.READ for carrier in ("Twilio", "Plivo")}),  # status APIs
        memory_mb=256,
        timeout_s=120,  # 480 status calls, 8 at a time, each at most 1 s
    ),
    Function(
        name="erasure_job",
        description="Finishes recipient erasures left unfinished: scrubs their messages by gsi3, then the marker",
        schedule=ERASURE,
        tables=_ro(
            {
                # markers on gsi2, memberships on gsi1, the person's messages on gsi3; deletes and scrubs; GetItem
                # and UpdateItem: a recorded call's recording (its item, the storage counter)
                "Messaging": ops(
                    Op.GET,
                    Op.QUERY,
                    Op.UPDATE,
                    Op.DELETE,
                    Op.BATCH_WRITE,
                    Op.QUERY_GSI1,
                    Op.QUERY_GSI2,
                    Op.QUERY_GSI3,
                ),
            }
        ),
        buckets=_ro({"Files": frozenset({BucketAccess.DELETE})}),  # the recordings of calls to the person
        memory_mb=512,
        timeout_s=60,
    ),
)

# Issue 13: the operator API's first function (R34, R68). Operator routes only: IAM-authorized, no customer credential.
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="ops_accounts_api",
        description="Operator API: whoami, an account's metadata (no personal data), incident actions (R34, R68)",
        routes=(
            Route(
                "GET", "/ops/v1/whoami", Auth.OPERATOR, "The calling operator", permission=OperatorPermission.SELF_READ
            ),
            Route(
                "GET",
                "/ops/v1/accounts/{account_id}",
                Auth.OPERATOR,
                "An account's metadata (no personal data)",
                permission=OperatorPermission.ACCOUNTS_READ,
            ),
            # Incident response (R68, logic.incident): each action an audit event in the account as operator:<id>.
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/suspend",
                Auth.OPERATOR,
                "Suspend an account",
                permission=OperatorPermission.ACCOUNTS_RESTRICT,
            ),
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/reinstate",
                Auth.OPERATOR,
                "Reinstate a suspended account",
                permission=OperatorPermission.ACCOUNTS_RESTRICT,
            ),
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/sessions/end",
                Auth.OPERATOR,
                "End every session of an account",
                permission=OperatorPermission.SESSIONS_END,
            ),
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/users/{user_id}/sessions/end",
                Auth.OPERATOR,
                "End every session of one user",
                permission=OperatorPermission.SESSIONS_END,
            ),
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/api-keys/revoke",
                Auth.OPERATOR,
                "Revoke every API key of an account",
                permission=OperatorPermission.KEYS_REVOKE,
            ),
            Route(
                "POST",
                "/ops/v1/accounts/{account_id}/users/{user_id}/force-password-reset",
                Auth.OPERATOR,
                "Force a user's password reset",
                permission=OperatorPermission.PASSWORDS_RESET,
            ),
        ),
        tables=_ro(
            {
                # The account and its users (GET), their e-mail lookup (reset link); users and keys (QUERY); the
                # status change, a user's reset flags, a key's expiry and its cap slot (UPDATE, also in a transaction).
                "Accounts": ops(Op.GET, Op.QUERY, Op.UPDATE),
                # Each user's sessions (gsi1) and their deletion; the reset link's token (PUT; the older one DELETE).
                "Sessions": ops(Op.QUERY_GSI1, Op.PUT, Op.DELETE),
                "Keyring": ops(Op.GET),  # the account's wrapped data key: the users' e-mail addresses (notices)
                "Messaging": ops(Op.PUT),  # reinstatement's resume request for the release job (dal.holds)
                "Audit": APPEND,  # every read and action is an event in the account's own trail (R34)
            }
        ),
        queues=_ro({"Mail": Access.SEND}),  # notices to owners and users, and the reset link (mail_worker sends)
        # A forced reset finds the user's e-mail lookup under every live blind-index version (crypto.peppers).
        secrets=_ro({"Peppers": Access.READ}),
        uses_data_key=True,
        memory_mb=256,
    ),
)

# Issue 13, R34: break-glass access. Requests and grants are operator state in the Platform table (`ACCESS#…`, only
# this function writes them); reads go through the customer API's own logic with the account's data key.
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="ops_access_api",
        description="Operator API: break-glass requests, two-person approval, audited reads under a grant (R34)",
        routes=(
            Route(
                "POST",
                "/ops/v1/access-requests",
                Auth.OPERATOR,
                "Request access to an account's data",
                permission=OperatorPermission.ACCESS_REQUEST,
            ),
            Route(
                "GET",
                "/ops/v1/access-requests",
                Auth.OPERATOR,
                "List access requests",
                permission=OperatorPermission.ACCESS_REQUEST,
            ),
            Route(
                "GET",
                "/ops/v1/access-requests/{request_id}",
                Auth.OPERATOR,
                "Read an access request",
                permission=OperatorPermission.ACCESS_REQUEST,
            ),
            Route(
                "POST",
                "/ops/v1/access-requests/{request_id}/approve",
                Auth.OPERATOR,
                "Approve an access request",
                permission=OperatorPermission.ACCESS_APPROVE,
            ),
            Route(
                "POST",
                "/ops/v1/access-requests/{request_id}/deny",
                Auth.OPERATOR,
                "Deny an access request",
                # Security denies; a requester may withdraw their own (the logic checks which).
                permission=OperatorPermission.ACCESS_REQUEST,
            ),
            Route(
                "POST",
                "/ops/v1/access-requests/{request_id}/revoke",
                Auth.OPERATOR,
                "Revoke an access grant",
                # Security revokes; the holder may end their own grant early (the logic checks which).
                permission=OperatorPermission.ACCESS_REQUEST,
            ),
            Route(
                "GET",
                "/ops/v1/accounts/{account_id}/messages",
                Auth.OPERATOR,
                "An account's messages, under a grant",
                permission=OperatorPermission.ACCESS_READ,
            ),
            Route(
                "GET",
                "/ops/v1/accounts/{account_id}/messages/{message_id}",
                Auth.OPERATOR,
                "One of an account's messages, under a grant",
                permission=OperatorPermission.ACCESS_READ,
            ),
            Route(
                "GET",
                "/ops/v1/accounts/{account_id}/recipients/{recipient_id}",
                Auth.OPERATOR,
                "One of an account's recipients, under a grant",
                permission=OperatorPermission.ACCESS_READ,
            ),
        ),
        tables=_ro(
            {
                # Requests and the account's hold: Put/Update in transactions; Query lists them.
                "Platform": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE),
                "Accounts": ops(Op.GET, Op.QUERY),  # the account exists; its owners (e-mailed)
                "Keyring": ops(Op.GET),  # the account's wrapped data key
                # The customer reads: a message, the list (gsi1), its recipients' erasure state, a recipient,
                # a message's callback deliveries.
                "Messaging": ops(Op.GET, Op.BATCH_GET, Op.QUERY, Op.QUERY_GSI1),
                "Limits": ops(Op.UPDATE),  # the cap on denied events per operator and minute
                "Audit": APPEND,  # every request, decision and read, in the account's own trail
            }
        ),
        queues=_ro({"Mail": Access.SEND}),  # the owners' e-mails (mail_worker sends them)
        uses_data_key=True,
        memory_mb=512,
        timeout_s=29,
    ),
)

# R61 (issue 13, item 6): signed deletion receipts and their public key, served to anyone (a purged account has no
# credentials left); data keys wrapped by KMS alone (before key-encryption keys) rewrapped under a KEK.
KEK_MIGRATION = Schedule(name="kek_migration", every_s=6 * 3600)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="deletion_receipts_api",
        description="R61: a purged account's signed deletion receipt and the key that verifies it",
        routes=(
            Route(
                "GET",
                "/.well-known/deletion-receipt-keys",
                Auth.PUBLIC,
                "The public keys that verify deletion receipts",
                permission=None,
            ),
            Route(
                "GET",
                "/v1/deletion-receipts/{account_id}",
                Auth.PUBLIC,
                "A purged account's signed deletion receipt",
                permission=None,
            ),
        ),
        tables=_ro({"Accounts": ops(Op.GET)}),  # the receipt item (`RECEIPT#<id>`) only
        publishes_receipt_key=True,
        memory_mb=256,
        timeout_s=5,
    ),
    Function(
        name="kek_migration_job",
        description="R61: rewraps data keys wrapped by KMS alone under their account's key-encryption key",
        schedule=KEK_MIGRATION,
        tables=_ro(
            {
                "Keyring": ops(Op.SCAN, Op.GET, Op.UPDATE),  # finds version 1 keys, rewraps each conditionally
                # a new KEK (put once), read back when another writer won; deleted if the account was purged meanwhile
                KEK_TABLE: ops(Op.GET, Op.PUT, Op.DELETE),
            }
        ),
        uses_data_key=True,
        creates_data_keys=True,  # kms:GenerateDataKey for the KEK
        memory_mb=256,
        timeout_s=300,
    ),
)

# Issue 13 (R68): rotating the platform's peppers and HMAC keys by version. It may read and write the Peppers secret
# and no other (GetSecretValue, PutSecretValue); each rotation is an event in the platform's audit trail.
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="ops_secrets_api",
        description="Operator API: versions of the peppers and HMAC keys (never values), rotation by version (R68)",
        routes=(
            Route(
                "GET",
                "/ops/v1/secrets",
                Auth.OPERATOR,
                "Rotatable platform secrets and their versions",
                permission=OperatorPermission.SECRETS_ROTATE,
            ),
            Route(
                "POST",
                "/ops/v1/secrets/{secret}/rotate",
                Auth.OPERATOR,
                "Rotate a pepper or HMAC key by version",
                permission=OperatorPermission.SECRETS_ROTATE,
            ),
        ),
        tables=_ro({"Audit": APPEND}),  # secret.rotated, in the platform trail
        secrets=_ro({"Peppers": Access.ROTATE}),
        memory_mb=256,
    ),
)

# Item 3 of issue 13: component health from live signals and the static status page (docs/status.md).
STATUS_PAGE = Schedule(name="status_page", every_s=60)
# The job's own configuration (the stacks set it, infra/constructs/status_page.py deployed, local/provision.py
# locally): its bucket, the API whose 5xx ratio it reads, and each catalog queue's name and DLQ URL, as JSON.
STATUS_PAGE_CONFIG_ENV = "STATUS_PAGE_CONFIG"
STATUS_PAGE_JOB = "status_page_job"

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name=STATUS_PAGE_JOB,
        description="Reads live health signals (DLQs, circuits, 5xx, queue age) and publishes the static status page",
        schedule=STATUS_PAGE,
        tables=_ro(
            {
                # Query: incidents and overrides (the page); PutItem: each component's new health reading
                "Platform": ops(Op.QUERY, Op.PUT),
                "Limits": ops(Op.GET),  # each carrier's circuit (one GetItem per carrier, never a scan)
            }
        ),
        memory_mb=256,
        timeout_s=30,
    ),
)

# Item 3 of issue 13: operators open, update, resolve and list incidents (docs/operators.md#incidents).
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="ops_status_api",
        description="Operator API: open, update, resolve and list the incidents of the public status page",
        routes=(
            Route(
                "POST",
                "/ops/v1/incidents",
                Auth.OPERATOR,
                "Open an incident",
                permission=OperatorPermission.INCIDENTS_MANAGE,
            ),
            Route(
                "POST",
                "/ops/v1/incidents/{incident_id}/updates",
                Auth.OPERATOR,
                "Post an update on an incident",
                permission=OperatorPermission.INCIDENTS_MANAGE,
            ),
            Route(
                "POST",
                "/ops/v1/incidents/{incident_id}/resolve",
                Auth.OPERATOR,
                "Resolve an incident",
                permission=OperatorPermission.INCIDENTS_MANAGE,
            ),
            Route(
                "GET", "/ops/v1/incidents", Auth.OPERATOR, "List incidents", permission=OperatorPermission.STATUS_READ
            ),
        ),
        tables=_ro(
            {
                # GetItem and UpdateItem: an update (conditional: a resolved incident takes none); Query: the list
                "Platform": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE),
                "Audit": APPEND,  # every action is an event in the platform trail (logic/incidents.py)
            }
        ),
        memory_mb=256,
    ),
)

# Issue 14, part 2: files. Uploads (direct or through a presigned PUT to the staging prefix), sniffed, sealed with the
# account's data key in segments and stored in the Files bucket; their metadata and the account's storage counter in
# Messaging (docs/files.md).
# Routes whose body may be a file's raw bytes, and how many: above the JSON limit, so the WAF's body-size rule and its
# managed body rules leave them out (infra/constructs/edge.py); base64 in the Lambda event (4/3) stays under 6 MB.
RAW_BODIES: Mapping[tuple[str, str], int] = MappingProxyType({("POST", "/v1/files"): 4 * 1024 * 1024})

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="files_api",
        description="Files: upload (direct or presigned), type sniffed, sealed per account; metadata, content, delete",
        routes=(
            Route("POST", "/v1/files", Auth.ANY, "Upload a file", permission=Permission.MESSAGES_SEND),
            Route(
                "POST",
                "/v1/files/{file_id}/complete",
                Auth.ANY,
                "Finish a presigned upload",
                permission=Permission.MESSAGES_SEND,
            ),
            Route("GET", "/v1/files", Auth.ANY, "List files", permission=Permission.MESSAGES_READ),
            Route("GET", "/v1/files/{file_id}", Auth.ANY, "A file's metadata", permission=Permission.MESSAGES_READ),
            Route(
                "GET",
                "/v1/files/{file_id}/content",
                Auth.ANY,
                "A file's bytes (Range requests for large ones)",
                permission=Permission.CONTENT_READ,
            ),
            Route("DELETE", "/v1/files/{file_id}", Auth.ANY, "Delete a file", permission=Permission.MESSAGES_SEND),
        ),
        tables=_ro(
            {
                "Keyring": ops(Op.GET),  # the account's wrapped data key: objects and file names are sealed with it
                # file items (Get, Put, Update to ready, Delete), the list (Query), the storage counter (Update)
                "Messaging": ops(Op.GET, Op.QUERY, Op.PUT, Op.UPDATE, Op.DELETE),
                "Limits": ops(Op.UPDATE),  # the rate limit
                "Idempotency": IDEMPOTENT_POSTS,
                "Audit": APPEND,  # refused actions (403) are audited (R54)
            }
        ),
        buckets=_ro({"Files": frozenset(BucketAccess)}),
        uses_data_key=True,
        # A 16 MiB file, its sealed copy and the base64 of a 4 MiB answer fit with room to spare.
        memory_mb=1024,
        timeout_s=29,
    ),
)

# Issue 14, part 3: call recordings. A verified recording callback queues a job; media_worker fetches the audio from
# the carrier, keeps it as a sealed file (source `recording`) and deletes the carrier's copy; recordings_api serves it
# to owners and admins, every read audited (docs/recordings.md).
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="media_worker",
        description="Fetches call recordings and inbound media from the carriers, stores them sealed",
        consumes="CarrierMedia",
        batch_size=1,  # one recording (up to 16 MiB) per invocation
        tables=_ro(
            {
                # the account's plan (storage) and standing; Query: an inbound message's webhook endpoints
                "Accounts": ops(Op.GET, Op.QUERY),
                "Keyring": ops(Op.GET),  # the account's data key: the audio and inbound media are sealed with it
                # the message (Get), the file's item (Get, Put), its link, the inbound message's media entries and
                # the storage counter (Update); DeleteItem: a file whose message went meanwhile
                "Messaging": ops(Op.GET, Op.PUT, Op.UPDATE, Op.DELETE),
            }
        ),
        # Callbacks: an inbound message with files gets its `message.inbound` webhook from here, with the file ids
        queues=_ro({"CarrierMedia": Access.CONSUME, "Callbacks": Access.SEND}),
        # recordings and inbound media APIs (WhatsApp: inbound media only)
        secrets=_ro(
            {"TwilioCredentials": Access.READ, "PlivoCredentials": Access.READ, "WhatsAppCredentials": Access.READ}
        ),
        buckets=_ro({"Files": frozenset({BucketAccess.WRITE, BucketAccess.DELETE})}),
        uses_data_key=True,
        memory_mb=1024,
        timeout_s=60,
    ),
    Function(
        name="recordings_api",
        description="Call recordings: metadata and audio for owners and admins, every access audited",
        routes=(
            Route(
                "GET",
                "/v1/recordings",
                Auth.ANY,
                "List call recordings",
                permission=Permission.RECORDINGS_READ,
            ),
            Route(
                "GET",
                "/v1/recordings/{recording_id}",
                Auth.ANY,
                "A call recording's metadata",
                permission=Permission.RECORDINGS_READ,
            ),
            Route(
                "GET",
                "/v1/recordings/{recording_id}/content",
                Auth.ANY,
                "A call recording's audio",
                permission=Permission.RECORDINGS_READ,
            ),
        ),
        tables=_ro(
            {
                "Keyring": ops(Op.GET),  # the account's data key: the audio is sealed with it
                "Messaging": ops(Op.GET, Op.QUERY),  # the recording's item; the list (one key-range Query)
                "Limits": ops(Op.UPDATE),  # the rate limit
                "Audit": APPEND,  # every access is an event (recording.accessed); refusals too (R54)
            }
        ),
        buckets=_ro({"Files": frozenset({BucketAccess.READ})}),
        uses_data_key=True,
        memory_mb=1024,
        timeout_s=29,
    ),
)

# Issue 14, part 2: media on sends. A carrier fetches each file of a message through a link minted for it alone
# (account, file, message, carrier, expiry; MAC'd with a key derived from the account's data key): the route is
# public, the link is the credential (docs/files.md "Links").
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="media_links",
        description="Serves a file sent with a message to the carrier its single-purpose link names",
        routes=(
            Route(
                "GET",
                "/v1/media/{token}",
                Auth.PUBLIC,
                "A file sent with a message, for its carrier",
                permission=None,
            ),
        ),
        tables=_ro(
            {
                "Keyring": ops(Op.GET),  # the account's data key: the link key derives from it; the file opens with it
                "Messaging": ops(Op.GET),  # the message (still lists the file) and the file's item
            }
        ),
        buckets=_ro({"Files": frozenset({BucketAccess.READ})}),
        uses_data_key=True,
        memory_mb=1024,  # a 4 MiB file, its sealed copy and the base64 of the answer
        timeout_s=29,
    ),
)


# Issue 15: the customer console (docs/console.md). It holds no data grant at all (only the key with which it vouches
# for the browser's address, CONSOLE_FORWARDING below): every page calls the public API over
# HTTP (PUBLIC_BASE_URL) with the signed-in person's own session token, so it can do nothing the API cannot, and
# what it shows is what the API answers that person. Its routes are public at the gateway because the browser's
# credential is a `__Host-` cookie, which only the console reads (and checks a CSRF token against).
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="console",
        description="The customer console: server-rendered pages over the public API",
        routes=(
            Route("GET", CONSOLE_PREFIX, Auth.PUBLIC, "The console's front door", permission=None),
            Route("GET", f"{CONSOLE_PREFIX}/{{proxy+}}", Auth.PUBLIC, "A console page", permission=None),
            Route("POST", f"{CONSOLE_PREFIX}/{{proxy+}}", Auth.PUBLIC, "A console form", permission=None),
        ),
        memory_mb=512,
        timeout_s=29,  # a page waits on the API (at most 25 s: switchboard.console.client)
    ),
)

# Behind Cloudflare the API sees the console's own egress address on every request it makes for a browser, so the
# console vouches for the browser's address in a header MAC'd with this key (switchboard.crypto.client_ip), and the
# functions behind every API route the console calls read the key to check it. The others never see the header.
CONSOLE_FORWARDING = "ConsoleForwarding"
CONSOLE_CALLS = frozenset(
    {
        "identity_api",
        "account_api",
        "webhooks_api",
        "recipients_api",
        "messages_api",
        "conversations_api",
        "files_api",
        "recordings_api",
    }
)
FUNCTIONS = tuple(
    replace(fn, secrets=_ro({**fn.secrets, CONSOLE_FORWARDING: Access.READ}))
    if fn.name in CONSOLE_CALLS | {"console"}
    else fn
    for fn in FUNCTIONS
)

_BY_NAME: Mapping[str, Function] = MappingProxyType({f.name: f for f in FUNCTIONS})
