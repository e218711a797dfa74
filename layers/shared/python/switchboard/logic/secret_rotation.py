"""Operator rotation of the platform's versioned secrets (peppers, HMAC keys): a new version beside the old ones.

A rotation adds `<family>_v<n+1>` to the Peppers secret and never removes or changes a version: every stored hash,
key and blind index names the version it was made with and keeps verifying (docs/runbooks.md#peppers). Values never
leave this module: listings show names, versions and dates only.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from switchboard import clock, settings
from switchboard.crypto import peppers, secret_store
from switchboard.dal import clients
from switchboard.logic import audit
from switchboard.models.errors import Conflict, NotFound
from switchboard.models.operator_secrets import SecretList, SecretOut, SecretRotatedOut, SecretVersionOut

if TYPE_CHECKING:
    from switchboard.models.request import RequestMeta
    from switchboard.operators import Operator

# The names operators use (`switchboard-ops secrets rotate NAME`), and the family of Peppers keys each one is.
NAMES: dict[str, str] = {
    "password-pepper": "password",  # Argon2id pepper of passwords and recovery codes
    "api-key-pepper": "api_key",  # HMAC key of API-key secrets
    "blind-index-key": "blind_index",  # HMAC key of e-mail blind indexes and login IP/device digests
}
PURPOSES: dict[str, str] = {
    "password-pepper": "Argon2id pepper of passwords and recovery codes (rehashed at the next login)",
    "api-key-pepper": "HMAC key of API-key secrets (rehashed at the key's next use)",
    "blind-index-key": "HMAC key of e-mail blind indexes and login IP/device digests (re-keyed at the next login)",
}
# Platform-level events (operators acting on no one account) are chained in their own audit trail, anchored by
# the audit anchor job like every account's (R55).
PLATFORM_TRAIL = "platform"
# Concurrent rotations of the same secret version: the second PutSecretValue reuses the first's request token with
# another value, which Secrets Manager refuses (ResourceExistsException): nobody's new version is overwritten.
_TOKEN_NAMESPACE = uuid.UUID("9d1b5f8e-3c2a-4f4e-8a71-5b0c2d7e6a10")
_RACE_CODES = frozenset({"ResourceExistsException", "LimitExceededException"})


@dataclass(frozen=True)
class Version:
    """One version of a secret: its name in the secret, number, when it was added (None: at deploy), current."""

    name: str
    number: int
    created_at: str | None
    current: bool


@dataclass(frozen=True)
class SecretVersions:
    """A rotatable secret and its versions, newest first (never a value)."""

    name: str
    purpose: str
    versions: list[Version]


@dataclass(frozen=True)
class Rotated:
    """What a rotation did: the new current version and the one it replaced (which keeps verifying)."""

    name: str
    version: Version
    previous: str


def family(name: str) -> str:
    """The Peppers family of a secret name; 404 for a name that is not a rotatable secret."""
    found = NAMES.get(name)
    if found is None:
        raise NotFound(f"No rotatable secret is called {name!r}; known: {', '.join(sorted(NAMES))}.")
    return found


def _read() -> tuple[dict[str, Any], str]:
    """The Peppers secret's current value and version id, read past any cache."""
    answer = clients.client("secretsmanager").get_secret_value(SecretId=settings.get().secret(peppers.ENV))
    return json.loads(answer["SecretString"]), str(answer["VersionId"])


def _versions(name: str, value: dict[str, Any]) -> SecretVersions:
    created = value.get(peppers.CREATED) or {}
    names = peppers.names(family(name), value)
    return SecretVersions(
        name=name,
        purpose=PURPOSES[name],
        versions=[
            Version(name=v, number=peppers.number(v), created_at=created.get(v), current=i == 0)
            for i, v in enumerate(names)
        ],
    )


def listing() -> list[SecretVersions]:
    """Every rotatable secret with its versions and their dates (GET /ops/v1/secrets)."""
    value, _ = _read()
    return [_versions(name, value) for name in NAMES]


def rotate(name: str) -> Rotated:
    """Add the next version of `name` and make it current; older versions stay (every stored hash still verifies).

    409 when another rotation of the Peppers secret won a race with this one (try again: it will add the next).
    """
    fam = family(name)
    value, version_id = _read()
    present = peppers.names(fam, value)
    if not present:
        raise Conflict(f"{name} has no first version yet (the deploy seeds it).", code="secret_not_seeded")
    previous = present[0]
    new_name = f"{fam}_v{peppers.number(previous) + 1}"
    now = clock.rfc3339(clock.now())
    value[new_name] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    value[peppers.CREATED] = {**(value.get(peppers.CREATED) or {}), new_name: now}
    try:
        clients.client("secretsmanager").put_secret_value(
            SecretId=settings.get().secret(peppers.ENV),
            SecretString=json.dumps(value),
            ClientRequestToken=str(uuid.uuid5(_TOKEN_NAMESPACE, version_id)),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _RACE_CODES:
            raise Conflict(
                "Another rotation changed the secret at the same moment; list the versions and try again.",
                code="rotation_in_progress",
            ) from None
        raise
    # This process uses the new version at once; others within secret_store.MAX_AGE_S (older versions verify).
    secret_store.forget()
    return Rotated(name=name, version=Version(new_name, peppers.number(new_name), now, True), previous=previous)


def listing_out() -> SecretList:
    """GET /ops/v1/secrets: every rotatable secret's versions and dates, never a value."""
    return SecretList(
        data=[
            SecretOut(
                name=s.name,
                purpose=s.purpose,
                versions=[
                    SecretVersionOut(version=v.name, number=v.number, created_at=v.created_at, current=v.current)
                    for v in s.versions
                ],
            )
            for s in listing()
        ]
    )


def rotate_by(operator: Operator, name: str, meta: RequestMeta) -> SecretRotatedOut:
    """POST /ops/v1/secrets/{secret}/rotate: rotate, then an audit event in the platform trail (R68, R55)."""
    rotated = rotate(name)
    audit.record(
        account_id=PLATFORM_TRAIL,
        type="secret.rotated",
        outcome="success",
        actor=operator.actor,
        meta=meta,
        target={"secret": name},
        data={"version": rotated.version.name, "previous": rotated.previous, "operator_role": operator.role},
    )
    return SecretRotatedOut(
        name=name, version=rotated.version.name, created_at=rotated.version.created_at, previous=rotated.previous
    )
