"""The Sessions table: sessions and single-use tokens, each found by the SHA-256 of its secret (never the secret)."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

SESSION_SK = "SESSION"
TABLE = "Sessions"


def token_pk(digest: str) -> str:
    """Global item: sessions and single-use tokens are looked up by digest before the account is known."""
    return f"TOKEN#{digest}"


def user_sessions_key(account_id: str, user_id: str) -> str:
    """The index partition of one user's sessions (listing, the 10-session cap, ending all)."""
    return f"{account_pk(account_id)}#USER#{user_id}#SESSIONS"


class UserSessionsIndex(GlobalSecondaryIndex["SessionItem"]):  # type: ignore[no-untyped-call]
    """gsi1: a user's sessions, oldest first."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class SessionItem(BaseItem):
    """pk = TOKEN#<sha256(token)>, sk = SESSION; ip and user agent sealed with the account key."""

    TABLE_ENV: ClassVar[str] = catalog.table("Sessions").env

    class Meta:
        table_name = ""

    session_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    created_at = NumberAttribute()
    last_seen_at = NumberAttribute()
    auth_at = NumberAttribute()
    ip_sealed = UnicodeAttribute(null=True)
    user_agent_sealed = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()  # the absolute timeout; TTL and the purge job remove it afterwards
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_user = UserSessionsIndex()


class TokenItem(BaseItem):
    """pk = TOKEN#<sha256(token)>, sk = VERIFY | RESET: a single-use e-mailed token."""

    TABLE_ENV: ClassVar[str] = catalog.table("Sessions").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    # A verification link carries its own signup's choices: verifying it sets exactly these (pre-hijacking).
    password_phc = UnicodeAttribute(null=True)
    pepper_version = UnicodeAttribute(null=True)
    account_name = UnicodeAttribute(null=True)


def put_session(item: SessionItem) -> None:
    """Store a new session."""
    item.save(condition=SessionItem.pk.does_not_exist())


def get_session(digest: str) -> SessionItem | None:
    """The session whose token has this digest, or None."""
    try:
        return SessionItem.get(token_pk(digest), SESSION_SK, consistent_read=True)
    except DoesNotExist:
        return None


def touch(item: SessionItem, now: int) -> None:
    """Move last_seen forward (only while the session still exists: a concurrent logout wins)."""
    try:
        item.update(actions=[SessionItem.last_seen_at.set(now)], condition=SessionItem.pk.exists())
    except UpdateError as error:
        if not clients.conditional_failed(error):
            raise


def set_auth_at(item: SessionItem, now: int) -> None:
    """Record a re-authentication on the same session."""
    item.update(
        actions=[SessionItem.auth_at.set(now), SessionItem.last_seen_at.set(now)], condition=SessionItem.pk.exists()
    )


def delete_session(item: SessionItem) -> None:
    """End a session at once (idempotent)."""
    item.delete()


def user_sessions(account_id: str, user_id: str) -> list[SessionItem]:
    """A user's sessions, oldest first."""
    return list(SessionItem.by_user.query(user_sessions_key(account_id, user_id)))


def put_token(
    digest: str,
    kind: str,
    *,
    account_id: str,
    user_id: str,
    expires_at: int,
    password: tuple[str, str] | None = None,
    account_name: str | None = None,
) -> None:
    """Store a single-use token by digest (a verification link: with its signup's password hash and version)."""
    phc, version = password or (None, None)
    TokenItem(
        token_pk(digest),
        kind,
        account_id=account_id,
        user_id=user_id,
        expires_at=expires_at,
        password_phc=phc,
        pepper_version=version,
        account_name=account_name,
    ).save()


def get_token(digest: str, kind: str) -> TokenItem | None:
    """A single-use token, or None."""
    try:
        return TokenItem.get(token_pk(digest), kind, consistent_read=True)
    except DoesNotExist:
        return None


def consume_token(item: TokenItem) -> bool:
    """Delete the token if it is still there; True for exactly one caller (single use)."""
    try:
        item.delete(condition=TokenItem.pk.exists())
    except DeleteError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def delete_token(digest: str, kind: str) -> None:
    """Forget a token (a newer one replaced it)."""
    TokenItem(token_pk(digest), kind).delete()


def new_session(token_digest: str, *, session_id: str, account_id: str, user_id: str, **attributes: Any) -> SessionItem:
    """A session (not stored yet) under its token's digest, listed under its user (ids sort oldest first)."""
    return SessionItem(
        token_pk(token_digest),
        SESSION_SK,
        session_id=session_id,
        account_id=account_id,
        user_id=user_id,
        gsi1pk=user_sessions_key(account_id, user_id),
        gsi1sk=session_id,
        **attributes,
    )
