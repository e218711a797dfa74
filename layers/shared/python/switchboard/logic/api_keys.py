"""API keys (R26-R28): created from a recent session, role never above the creator's, revoke and rotate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard import clock, ids, settings
from switchboard.auth import Principal
from switchboard.crypto import tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import api_keys as keys_dal
from switchboard.dal.api_keys import ApiKeyItem
from switchboard.logic import audit, caps, notices
from switchboard.models import paging
from switchboard.models.errors import Forbidden, NotFound, ValidationFailed
from switchboard.models.permissions import RANK, Role, may_grant
from switchboard.models.request import RequestMeta

if TYPE_CHECKING:
    from switchboard.models.api_keys import ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyOut

DEFAULT_LIFETIME_S = 365 * 86400
MAX_LIFETIME_S = 730 * 86400
TOUCH_EVERY_S = 60


def _mode() -> str:
    return "test" if settings.get().rules.test_mode else "live"


def _prefix(item: ApiKeyItem) -> str:
    return f"sb_{item.mode}_{item.key_id}"


def _out(item: ApiKeyItem) -> ApiKeyOut:
    from switchboard.models.api_keys import ApiKeyOut  # noqa: PLC0415 - pydantic: not in the authorizer's import

    return ApiKeyOut(
        id=item.key_id,
        prefix=_prefix(item),
        name=item.name,
        role=item.role,
        created_at=clock.rfc3339_at(int(item.created_at)),
        expires_at=clock.rfc3339_at(int(item.expires_at)),
        last_used_at=clock.rfc3339_at(int(item.last_used_at)) if item.last_used_at is not None else None,
    )


def _issue(principal: Principal, *, name: str, role: str, expires_at: int, meta: RequestMeta) -> ApiKeyCreated:
    from switchboard.models.api_keys import ApiKeyCreated  # noqa: PLC0415 - pydantic: not in the authorizer's import

    key_id = ids.new_id("key")
    key, parts = tokens.new_api_key(_mode(), key_id)
    secret_hash, version = tokens.hash_api_secret(parts.secret)
    item = keys_dal.new_key(
        principal.account_id,
        key_id,
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
        keys_dal.put(item, cap=caps.LIMITS[caps.API_KEYS])
    return ApiKeyCreated(
        id=key_id, key=key, prefix=_prefix(item), name=name, role=role, expires_at=clock.rfc3339_at(expires_at)
    )


def _notify_creator(principal: Principal) -> None:
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is not None:
        notices.notify(user, "api_key_created")


def create(principal: Principal, body: ApiKeyIn, meta: RequestMeta) -> ApiKeyCreated:
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
    created = _issue(principal, name=body.name, role=body.role.value, expires_at=expires_at, meta=meta)
    audit.record(
        account_id=principal.account_id,
        type="api_key.created",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": created.id},
        data={"role": created.role},
    )
    _notify_creator(principal)
    return created


def list_keys(principal: Principal, limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None) -> ApiKeyList:
    """GET /v1/api-keys: live keys, oldest first, paged; no secrets, with last_used_at."""
    from switchboard.models.api_keys import ApiKeyList  # noqa: PLC0415 - pydantic: not in the authorizer's import

    now = clock.timestamp()
    live = [k for k in keys_dal.list_keys(principal.account_id) if k.expires_at > now]
    items, more = caps.page(live, lambda k: k.key_id, limit=limit, cursor=cursor)
    return ApiKeyList(data=[_out(k) for k in items], next_cursor=more)


def _own(principal: Principal, key_id: str) -> ApiKeyItem:
    item = keys_dal.get(principal.account_id, key_id)
    if item is None or item.expires_at <= clock.timestamp():
        raise NotFound("No such API key.")
    if not may_grant(principal.role, item.role):
        raise Forbidden("This key's role is above what you may manage.", code="role_too_high")
    return item


def revoke(principal: Principal, key_id: str, meta: RequestMeta) -> None:
    """DELETE /v1/api-keys/{id}: refused on the very next request (the authorizer is never cached)."""
    item = _own(principal, key_id)
    # Expired now rather than deleted: until its TTL removes it, the authorizer still recognises the key, refuses it
    # and audits the use (R54: use after revoke); it is already gone from every list and refused everywhere.
    keys_dal.shorten(item, int(clock.timestamp()))
    audit.record(
        account_id=principal.account_id,
        type="api_key.revoked",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": key_id},
    )


def revoke_created_by(
    account_id: str, user_id: str, *, actor: str, reason: str, meta: RequestMeta, since: int = 0
) -> int:
    """Delete the keys `user_id` created at or after `since` (its credential may have made them); each audited."""
    revoked = 0
    for key in keys_dal.list_keys(account_id):
        if key.created_by == user_id and int(key.created_at) >= since:
            keys_dal.delete(key)
            audit.record(
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


def rotate(principal: Principal, key_id: str, grace_s: int, meta: RequestMeta) -> ApiKeyCreated:
    """POST /v1/api-keys/{id}/rotate: a new key now, the old one works for `grace_s` more seconds.

    The new key is a fresh key with its predecessor's lifetime: it expires when the rotated key would have
    expired had it never been rotated (the expiry its creator chose), never at the end of a grace period. A key
    already in its grace period (rotated before) can be rotated again: another fresh successor with that same
    lifetime, and the old key's grace only ever shortens (`min(its grace end, now + grace_s)`), never extends.
    """
    old = _own(principal, key_id)
    # A key stored before lifetime_ends_at existed: its expires_at is the best record of its lifetime left.
    lifetime_ends_at = int(old.lifetime_ends_at if old.lifetime_ends_at is not None else old.expires_at)
    created = _issue(principal, name=old.name, role=old.role, expires_at=lifetime_ends_at, meta=meta)
    keys_dal.shorten(old, int(clock.timestamp()) + grace_s)
    audit.record(
        account_id=principal.account_id,
        type="api_key.rotated",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"key_id": key_id, "new_key_id": created.id},
        data={"grace_s": grace_s},
    )
    _notify_creator(principal)
    return created


def resolve(key: str, meta: RequestMeta | None = None) -> dict[str, str] | None:
    """The authorizer context of a live API key, or None: constant-time secret check, expiry, creator, account.

    A genuine key (its secret matches) that is revoked or expired leaves a denied audit event in its account (R54).
    """
    parts = tokens.parse_api_key(key)
    if parts is None:
        return None
    item = keys_dal.find(parts.key_id)
    if item is None or item.mode != parts.mode:
        return None
    if not tokens.api_secret_matches(parts.secret, item.secret_hash, item.pepper_version):
        return None
    now = int(clock.timestamp())
    if now >= int(item.expires_at):
        audit.record_denied(
            account_id=item.account_id,
            type="api_key.refused",
            actor=item.key_id,
            meta=meta,
            target={"key_id": item.key_id},
            data={"reason": "revoked_or_expired"},
        )
        return None
    account = accounts_dal.get_account(item.account_id)
    creator = accounts_dal.get_user(item.account_id, item.created_by)
    if account is None or account.status != "active" or creator is None or not creator.email_verified:
        return None  # a removed creator's keys die with them; an unproven address's keys never work
    # Never above the creator's current role: a demotion applies to their keys on the next request.
    role = min((Role(item.role), Role(creator.role)), key=lambda r: RANK[r]).value
    if item.last_used_at is None or now - int(item.last_used_at) >= TOUCH_EVERY_S:
        keys_dal.touch(item, now)
    return {
        "account_id": item.account_id,
        "principal": item.key_id,
        "role": role,
        "credential": "api_key",
        "session_id": "",
        "key_id": item.key_id,
        "plan": account.plan,
        "mode": item.mode,
        "auth_at": "",
    }
