"""API keys (R26-R28): created from a recent session, role never above the creator's, revoke and rotate."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from switchboard import clock, ids, settings
from switchboard.auth import Principal
from switchboard.crypto import tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import api_keys as keys_dal
from switchboard.dal.api_keys import ApiKey
from switchboard.logic import audit, caps, notices
from switchboard.models import paging
from switchboard.models.errors import Forbidden, NotFound, ValidationFailed
from switchboard.models.permissions import RANK, Role, may_grant
from switchboard.models.request import RequestMeta

if TYPE_CHECKING:
    from switchboard.logic.ports import AuditLog, Directory
    from switchboard.models.api_keys import ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyOut

DEFAULT_LIFETIME_S = 365 * 86400
MAX_LIFETIME_S = 730 * 86400
TOUCH_EVERY_S = 60


class KeyStore(Protocol):
    """The API keys repository as logic uses it: `dal.api_keys` (moto tests), or an in-memory fake."""

    def put(self, key: ApiKey, *, cap: int) -> ApiKey: ...
    def get(self, account_id: str, key_id: str) -> ApiKey | None: ...
    def find(self, key_id: str) -> ApiKey | None: ...
    def list_keys(self, account_id: str) -> list[ApiKey]: ...
    def delete(self, key: ApiKey) -> None: ...
    def shorten(self, key: ApiKey, until: int) -> None: ...
    def touch(self, key: ApiKey, now: int) -> None: ...
    def rehash(self, key: ApiKey, secret_hash: str, pepper_version: str) -> bool: ...


def _mode() -> str:
    return "test" if settings.get().rules.test_mode else "live"


def _prefix(item: ApiKey) -> str:
    return f"sb_{item.mode}_{item.key_id}"


def _out(item: ApiKey) -> ApiKeyOut:
    from switchboard.models.api_keys import ApiKeyOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    return ApiKeyOut(
        id=item.key_id,
        prefix=_prefix(item),
        name=item.name,
        role=item.role,
        created_at=clock.rfc3339_at(item.created_at),
        expires_at=clock.rfc3339_at(item.expires_at),
        last_used_at=clock.rfc3339_at(item.last_used_at) if item.last_used_at is not None else None,
    )


def _issue(principal: Principal, *, name: str, role: str, expires_at: int, repo: KeyStore) -> ApiKeyCreated:
    from switchboard.models.api_keys import ApiKeyCreated  # noqa: PLC0415 - pydantic: not in the authorizer's import

    key_id = ids.new_id("key")
    key, parts = tokens.new_api_key(_mode(), key_id)
    secret_hash, version = tokens.hash_api_secret(parts.secret)
    item = ApiKey(
        key_id=key_id,
        account_id=principal.account_id,
        name=name,
        role=role,
        mode=parts.mode,
        secret_hash=secret_hash,
        pepper_version=version,
        created_by=principal.principal,
        created_at=int(clock.timestamp()),
        expires_at=expires_at,
        lifetime_ends_at=expires_at,
    )
    with caps.capped(caps.API_KEYS):
        repo.put(item, cap=caps.LIMITS[caps.API_KEYS])
    return ApiKeyCreated(
        id=key_id, key=key, prefix=_prefix(item), name=name, role=role, expires_at=clock.rfc3339_at(expires_at)
    )


def notify_creator(principal: Principal) -> None:
    """E-mail the key's creator that a key was made with their credential (R26)."""
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is not None:
        notices.notify(user, "api_key_created")


def create(
    principal: Principal,
    body: ApiKeyIn,
    meta: RequestMeta,
    *,
    repo: KeyStore = keys_dal,
    trail: AuditLog = audit,
    notify: Callable[[Principal], None] = notify_creator,
) -> ApiKeyCreated:
    """POST /v1/api-keys: the full key is in this answer only (R26); role <= the creator's (R28)."""
    if not may_grant(principal.role, body.role):
        raise Forbidden("An API key's role cannot be above yours.", code="role_too_high")
    now = int(clock.timestamp())
    expires_at = int(body.expires_at.timestamp()) if body.expires_at else now + DEFAULT_LIFETIME_S
    if not now < expires_at <= now + MAX_LIFETIME_S:
        raise ValidationFailed(
            "expires_at must be in the future and within 730 days.",
            errors=[{"pointer": "/expires_at", "message": "out of range"}],
        )
    created = _issue(principal, name=body.name, role=body.role.value, expires_at=expires_at, repo=repo)
    trail.record(
        account_id=principal.account_id,
        type="api_key.created",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": created.id},
        data={"role": created.role},
    )
    notify(principal)
    return created


def list_keys(
    principal: Principal,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    repo: KeyStore = keys_dal,
) -> ApiKeyList:
    """GET /v1/api-keys: live keys, oldest first, paged; no secrets, with last_used_at."""
    from switchboard.models.api_keys import ApiKeyList  # noqa: PLC0415 - pydantic: not in the authorizer's import

    now = clock.timestamp()
    live = [k for k in repo.list_keys(principal.account_id) if k.expires_at > now]
    items, more = caps.page(live, lambda k: k.key_id, limit=limit, cursor=cursor)
    return ApiKeyList(data=[_out(k) for k in items], next_cursor=more)


def _own(principal: Principal, key_id: str, repo: KeyStore) -> ApiKey:
    key = repo.get(principal.account_id, key_id)
    if key is None or key.expires_at <= clock.timestamp():
        raise NotFound("No such API key.")
    if not may_grant(principal.role, key.role):
        raise Forbidden("This key's role is above what you may manage.", code="role_too_high")
    return key


def revoke(
    principal: Principal, key_id: str, meta: RequestMeta, *, repo: KeyStore = keys_dal, trail: AuditLog = audit
) -> None:
    """DELETE /v1/api-keys/{id}: refused on the very next request (the authorizer is never cached)."""
    key = _own(principal, key_id, repo)
    # Expired now rather than deleted: until its TTL removes it, the authorizer still recognises the key, refuses it
    # and audits the use (R54: use after revoke); it is already gone from every list and refused everywhere.
    repo.shorten(key, int(clock.timestamp()))
    trail.record(
        account_id=principal.account_id,
        type="api_key.revoked",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": key_id},
    )


def revoke_created_by(
    account_id: str,
    user_id: str,
    *,
    actor: str,
    reason: str,
    meta: RequestMeta,
    since: int = 0,
    repo: KeyStore = keys_dal,
    trail: AuditLog = audit,
) -> int:
    """Delete the keys `user_id` created at or after `since` (its credential may have made them); each audited."""
    revoked = 0
    for key in repo.list_keys(account_id):
        if key.created_by == user_id and key.created_at >= since:
            repo.delete(key)
            trail.record(
                account_id=account_id,
                type="api_key.revoked",
                outcome="success",
                actor=actor,
                meta=meta,
                target={"key_id": key.key_id},
                data={"reason": reason},
            )
            revoked += 1
    return revoked


def rotate(
    principal: Principal,
    key_id: str,
    grace_s: int,
    meta: RequestMeta,
    *,
    repo: KeyStore = keys_dal,
    trail: AuditLog = audit,
    notify: Callable[[Principal], None] = notify_creator,
) -> ApiKeyCreated:
    """POST /v1/api-keys/{id}/rotate: a new key now, the old one works for `grace_s` more seconds.

    The new key is a fresh key with its predecessor's lifetime: it expires when the rotated key would have
    expired had it never been rotated (the expiry its creator chose), never at the end of a grace period. A key
    already in its grace period (rotated before) can be rotated again: another fresh successor with that same
    lifetime, and the old key's grace only ever shortens (`min(its grace end, now + grace_s)`), never extends.
    """
    old = _own(principal, key_id, repo)
    # A key stored before lifetime_ends_at existed: its expires_at is the best record of its lifetime left.
    lifetime_ends_at = old.lifetime_ends_at if old.lifetime_ends_at is not None else old.expires_at
    created = _issue(principal, name=old.name, role=old.role, expires_at=lifetime_ends_at, repo=repo)
    repo.shorten(old, int(clock.timestamp()) + grace_s)
    trail.record(
        account_id=principal.account_id,
        type="api_key.rotated",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": key_id, "new_key_id": created.id},
        data={"grace_s": grace_s},
    )
    notify(principal)
    return created


def resolve(
    key: str,
    meta: RequestMeta | None = None,
    *,
    repo: KeyStore = keys_dal,
    directory: Directory = accounts_dal,
    trail: AuditLog = audit,
) -> dict[str, str] | None:
    """The authorizer context of a live API key, or None: constant-time secret check, expiry, creator, account.

    A genuine key (its secret matches) that is revoked or expired leaves a denied audit event in its account (R54).
    """
    parts = tokens.parse_api_key(key)
    if parts is None:
        return None
    stored = repo.find(parts.key_id)
    if stored is None or stored.mode != parts.mode:
        return None
    if not tokens.api_secret_matches(parts.secret, stored.secret_hash, stored.pepper_version):
        return None
    now = int(clock.timestamp())
    if now >= stored.expires_at:
        trail.record_denied(
            account_id=stored.account_id,
            type="api_key.refused",
            actor=stored.key_id,
            meta=meta,
            target={"key_id": stored.key_id},
            data={"reason": "revoked_or_expired"},
        )
        return None
    account = directory.get_account(stored.account_id)
    creator = directory.get_user(stored.account_id, stored.created_by)
    if account is None or account.status != "active" or creator is None or not creator.email_verified:
        return None  # a removed creator's keys die with them; an unproven address's keys never work
    # Never above the creator's current role: a demotion applies to their keys on the next request.
    role = min((Role(stored.role), Role(creator.role)), key=lambda r: RANK[r]).value
    if stored.last_used_at is None or now - stored.last_used_at >= TOUCH_EVERY_S:
        repo.touch(stored, now)
    if stored.pepper_version != tokens.current_api_key_version():
        # Rehash on use: a key made before a pepper rotation moves to the current version, so the old one can retire.
        repo.rehash(stored, *tokens.hash_api_secret(parts.secret))
    return {
        "account_id": stored.account_id,
        "principal": stored.key_id,
        "role": role,
        "credential": "api_key",
        "session_id": "",
        "key_id": stored.key_id,
        "plan": account.plan,
        "mode": stored.mode,
        "auth_at": "",
    }
