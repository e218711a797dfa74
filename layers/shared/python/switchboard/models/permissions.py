"""Roles and permissions: API.md's "Roles and permissions" table, once; every check in the API reads it."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    """A member's (or an API key's) role in one account, highest first."""

    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    AGENT = "agent"
    VIEWER = "viewer"


class Permission(StrEnum):
    """One row of API.md's table."""

    ACCOUNT_READ = "account:read"
    ACCOUNT_MANAGE = "account:delete_restore_export"
    MEMBERS_MANAGE = "members:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    WEBHOOKS_MANAGE = "webhook_endpoints:manage"
    TEMPLATES_MANAGE = "templates:manage"  # an addition to API.md's table: configuration, like webhook endpoints
    RECIPIENTS_WRITE = "recipients_lists_consent:write"
    MESSAGES_SEND = "messages_broadcasts:send"
    # API.md's "recipients, messages: read" row, one name per thing it guards (the same roles hold all three).
    RECIPIENTS_READ = "recipients:read"
    MESSAGES_READ = "messages:read"  # messages and their logs
    TEMPLATES_READ = "templates:read"  # whoever sends may see which templates exist
    AUDIT_READ = "audit_events:read_verify"
    # An addition to API.md's table: the account's settings (message retention, R60), owners and admins.
    ACCOUNT_SETTINGS = "account:settings"
    # Additions to API.md's table (issue 14): what people wrote and sent (conversation bodies, files) beyond the
    # masked logs a viewer reads; and call recordings, a stronger privacy interest, owners and admins only.
    CONTENT_READ = "content:read"
    RECORDINGS_READ = "recordings:read"


# Rank orders roles for "never above its creator" (API keys) and "not owners" (admins managing members).
RANK: MappingProxyType[Role, int] = MappingProxyType(
    {Role.OWNER: 5, Role.ADMIN: 4, Role.DEVELOPER: 3, Role.AGENT: 2, Role.VIEWER: 1}
)

_ALL = frozenset(Role)
_P = Permission
_R = Role

TABLE: MappingProxyType[Permission, frozenset[Role]] = MappingProxyType(
    {
        _P.ACCOUNT_READ: _ALL,
        _P.ACCOUNT_MANAGE: frozenset({_R.OWNER}),
        _P.MEMBERS_MANAGE: frozenset({_R.OWNER, _R.ADMIN}),
        _P.API_KEYS_MANAGE: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER}),
        _P.WEBHOOKS_MANAGE: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER}),
        _P.TEMPLATES_MANAGE: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER}),
        _P.RECIPIENTS_WRITE: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER, _R.AGENT}),
        _P.MESSAGES_SEND: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER, _R.AGENT}),
        _P.RECIPIENTS_READ: _ALL,
        _P.MESSAGES_READ: _ALL,
        _P.TEMPLATES_READ: _ALL,
        _P.AUDIT_READ: frozenset({_R.OWNER, _R.ADMIN}),
        _P.ACCOUNT_SETTINGS: frozenset({_R.OWNER, _R.ADMIN}),
        _P.CONTENT_READ: frozenset({_R.OWNER, _R.ADMIN, _R.DEVELOPER, _R.AGENT}),
        _P.RECORDINGS_READ: frozenset({_R.OWNER, _R.ADMIN}),
    }
)

# Permissions that API.md says are exercised from a session only, never with an API key.
SESSION_ONLY: frozenset[Permission] = frozenset(
    {_P.ACCOUNT_MANAGE, _P.MEMBERS_MANAGE, _P.API_KEYS_MANAGE, _P.ACCOUNT_SETTINGS}
)


def allows(role: Role | str, permission: Permission) -> bool:
    """True when `role` holds `permission` (unknown roles hold nothing)."""
    try:
        return Role(role) in TABLE[permission]
    except ValueError:
        return False


def may_grant(actor: Role | str, target: Role | str) -> bool:
    """Whether `actor` may give (or act on someone holding) `target`: admins not owners, developers <= developer."""
    try:
        actor_role, target_role = Role(actor), Role(target)
    except ValueError:
        return False
    if actor_role is Role.OWNER:
        return True
    if actor_role is Role.ADMIN:
        return target_role is not Role.OWNER
    if actor_role is Role.DEVELOPER:
        return RANK[target_role] <= RANK[Role.DEVELOPER]
    return False


def masks_phone_numbers(role: Role | str) -> bool:
    """Viewers read recipients and messages with phone numbers masked."""
    return role == Role.VIEWER
