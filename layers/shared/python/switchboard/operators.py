"""Operators (R31, R34, R18): the roles, their one permission table, and who an IAM-signed request comes from."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from switchboard.auth import SIGV4_SCHEME
from switchboard.models.errors import Forbidden

OPS_PREFIX = "/ops/v1/"  # every operator route's path starts with it (and no customer route's does)
ACTOR_PREFIX = "operator:"  # an operator's actions are audited with actor `operator:<id>` (R34, R68)
ROLE_NAME_PREFIX = "switchboard-{stage}-operator-"  # deployed IAM role `switchboard-<stage>-operator-<role>`
# The local gateway states whether the credential it verified has MFA (API Gateway's `identity` has no such field):
# deployed, the roles' trust policies require MFA, so a request signed by an assumed operator role has it.
LOCAL_MFA_FIELD = "switchboardMfa"
MFA_REQUIRED = "mfa-enrolment-required"  # R18's problem code, as SECURITY.md names it
OPERATOR_REQUIRED = "operator_required"
# STS role session names (the operator id): 2-64 of these characters (AssumeRole's RoleSessionName).
_SESSION_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{2,64}")
_ASSUMED_ROLE_ARN = re.compile(r"arn:aws:sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)")


class OperatorRole(StrEnum):
    """An operator's role: the IAM role the operator assumed (with MFA)."""

    SUPPORT = "support"
    SECURITY = "security"


class OperatorPermission(StrEnum):
    """What an operator route requires; its own namespace (`ops:`), never a customer permission."""

    SELF_READ = "ops:self:read"  # whoami
    ACCOUNTS_READ = "ops:accounts:read"  # an account's metadata, never personal data or content
    STATUS_READ = "ops:status:read"  # incidents and component status
    ACCESS_REQUEST = "ops:access:request"  # request a break-glass grant to one account (R34)
    ACCESS_READ = "ops:access:read"  # read an account's data under an approved, unexpired grant of one's own
    ACCESS_APPROVE = "ops:access:approve"  # approve (or deny) another operator's request: never one's own
    ACCOUNTS_RESTRICT = "ops:accounts:suspend_reinstate"  # suspend and reinstate an account (R68)
    SESSIONS_END = "ops:sessions:end"  # end every session of a user or an account
    KEYS_REVOKE = "ops:api_keys:revoke"  # revoke every API key of an account
    PASSWORDS_RESET = "ops:passwords:force_reset"  # pragma: allowlist secret - a permission, forces a reset
    SECRETS_ROTATE = "ops:secrets:rotate"  # pragma: allowlist secret - a permission: peppers, HMAC and webhook keys
    INCIDENTS_MANAGE = "ops:incidents:manage"  # open, update and resolve incidents


_P = OperatorPermission
# Support answers customers: it reads metadata and status and may ask for access, which a second operator approves.
SUPPORT_PERMISSIONS = frozenset({_P.SELF_READ, _P.ACCOUNTS_READ, _P.STATUS_READ, _P.ACCESS_REQUEST, _P.ACCESS_READ})
TABLE: MappingProxyType[OperatorRole, frozenset[OperatorPermission]] = MappingProxyType(
    {
        OperatorRole.SUPPORT: SUPPORT_PERMISSIONS,
        # Security also acts on incidents: everything support may, and every restricting or rotating action.
        OperatorRole.SECURITY: frozenset(OperatorPermission),
    }
)


def allows(role: OperatorRole | str, permission: OperatorPermission) -> bool:
    """True when the operator role holds `permission` (unknown roles hold nothing)."""
    try:
        return permission in TABLE[OperatorRole(role)]
    except ValueError:
        return False


def role_name(stage: str, role: OperatorRole | str) -> str:
    """The IAM role an operator of this role assumes in this stage."""
    return ROLE_NAME_PREFIX.format(stage=stage) + str(role)


@dataclass(frozen=True)
class Operator:
    """The operator calling, as IAM authenticated them (the assumed role and its session name)."""

    id: str  # the role session name: the operator's own name, never a shared one
    role: str
    mfa: bool

    @property
    def actor(self) -> str:
        """The audit events' `actor` for this operator's actions."""
        return ACTOR_PREFIX + self.id


class _HasEvent(Protocol):
    @property
    def current_event(self) -> Any: ...


def _event_of(source: dict[str, Any] | _HasEvent) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    raw: dict[str, Any] = source.current_event.raw_event
    return raw


def _stage() -> str:
    # Read where it is used: settings are not needed for this and the authorizer-free ops functions stay light.
    return os.environ.get("STAGE", "")


def _refused(detail: str) -> Forbidden:
    return Forbidden(detail, code=OPERATOR_REQUIRED)


def operator_of(source: dict[str, Any] | _HasEvent) -> Operator:
    """The operator of an IAM-authorized request (`requestContext.identity`, as API Gateway fills it).

    Only an assumed `switchboard-<this stage>-operator-<role>` role with a valid session name is an operator;
    anything else (no identity, an IAM user, another stage's or another role) is refused with 403.
    """
    context = _event_of(source).get("requestContext") or {}
    identity = context.get("identity") or {}
    arn = identity.get("userArn")
    found = _ASSUMED_ROLE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if found is None:
        raise _refused("Sign the request as an operator role (SigV4); nothing else reaches the operator API.")
    stage = _stage()
    prefix = ROLE_NAME_PREFIX.format(stage=stage)
    role = found["role"].removeprefix(prefix) if stage and found["role"].startswith(prefix) else ""
    if role not in set(OperatorRole) or not _SESSION_NAME.fullmatch(found["session"]):
        raise _refused("This IAM identity is not an operator role of this stage.")
    # Deployed, API Gateway never sets the field, and the role's trust policy admits only sessions with
    # aws:MultiFactorAuthPresent: an assumed operator role has MFA. The local gateway states it per credential.
    mfa = str(identity.get(LOCAL_MFA_FIELD, "true")).lower() == "true"
    return Operator(id=found["session"], role=role, mfa=mfa)


def require(operator: Operator, permission: OperatorPermission) -> None:
    """Raise 403 unless the operator has MFA (R18) and their role holds `permission` (R31)."""
    if not operator.mfa:
        raise Forbidden("Operators need MFA before any operator route works (R18).", code=MFA_REQUIRED)
    if not allows(operator.role, permission):
        raise Forbidden(f"Your operator role ({operator.role}) does not allow this.", code="forbidden")


def customer_credentials(event: dict[str, Any]) -> bool:
    """True when the request carries a customer credential (a session or an API key, or its authorizer's verdict)."""
    context = event.get("requestContext") or {}
    if (context.get("authorizer") or {}).get("account_id"):
        return True
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    authorization = headers.get("authorization", "").strip()
    if authorization and not authorization.startswith(SIGV4_SCHEME):
        return True
    return "__host-session=" in headers.get("cookie", "").lower()


def enforce(event: dict[str, Any], permission: OperatorPermission) -> Operator:
    """An operator route's policy: no customer credential, an operator identity, MFA, then the role's permission."""
    if customer_credentials(event):
        raise _refused("Customer sessions and API keys never reach the operator API; sign as an operator role.")
    operator = operator_of(event)
    require(operator, permission)
    return operator
