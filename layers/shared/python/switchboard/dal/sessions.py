"""The Sessions table: sessions and single-use tokens, each found by the SHA-256 of its secret (never the secret)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.base import BaseItem, record_of, update_while_present
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


@dataclass(frozen=True)
class Session:
    """A stored session, found by `token_digest` (the SHA-256 of its token; the token itself is never stored).

    `ip_sealed` and `user_agent_sealed` stay sealed until `open_field` (only the session list shows them)."""

    token_digest: str
    session_id: str
    account_id: str
    user_id: str
    created_at: int
    last_seen_at: int
    auth_at: int
    expires_at: int
    ip_sealed: str | None = None
    user_agent_sealed: str | None = None


def _record(item: SessionItem) -> Session:
    return record_of(Session, item, token_digest=item.pk.removeprefix("TOKEN#"))


def _key(session: Session) -> SessionItem:
    """The stored item's key alone (what updates and deletes address)."""
    return SessionItem(token_pk(session.token_digest), SESSION_SK, account_id=session.account_id)


def put_session(session: Session, *, ip: str | None = None, user_agent: str | None = None) -> Session:
    """Store a new session, its IP and user agent sealed to it; the session as stored."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a session is made, not in the authorizer

    stored = {name: value for name, value in asdict(session).items() if name != "token_digest"}
    item = SessionItem(
        token_pk(session.token_digest),
        SESSION_SK,
        gsi1pk=user_sessions_key(session.account_id, session.user_id),
        gsi1sk=session.session_id,  # ids sort oldest first
        **stored,
    )
    if ip is not None:
        item.ip_sealed = sealed.seal(item, "ip", ip)
    if user_agent is not None:
        item.user_agent_sealed = sealed.seal(item, "user_agent", user_agent)
    item.save(condition=SessionItem.pk.does_not_exist())
    return _record(item)


def open_field(session: Session, field: str) -> str:
    """A sealed field of the session (`ip`, `user_agent`) in clear, "" when none was stored."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a session list is shown

    value = session.ip_sealed if field == "ip" else session.user_agent_sealed if field == "user_agent" else None
    return sealed.open_field(_key(session), field, value) if value else ""


def get_session(digest: str) -> Session | None:
    """The session whose token has this digest, or None."""
    try:
        return _record(SessionItem.get(token_pk(digest), SESSION_SK, consistent_read=True))
    except DoesNotExist:
        return None


def touch(session: Session, now: int) -> None:
    """Move last_seen forward (only while the session still exists: a concurrent logout wins)."""
    update_while_present(_key(session), [SessionItem.last_seen_at.set(now)])


def set_auth_at(session: Session, now: int) -> None:
    """Record a re-authentication on the same session."""
    _key(session).update(
        actions=[SessionItem.auth_at.set(now), SessionItem.last_seen_at.set(now)], condition=SessionItem.pk.exists()
    )


def delete_session(session: Session) -> None:
    """End a session at once (idempotent)."""
    _key(session).delete()


def user_sessions(account_id: str, user_id: str) -> list[Session]:
    """A user's sessions, oldest first."""
    return [_record(item) for item in SessionItem.by_user.query(user_sessions_key(account_id, user_id))]


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
