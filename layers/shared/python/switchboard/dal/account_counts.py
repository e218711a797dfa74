"""How many users, live API keys and live sessions an account has: counted by the table (Select COUNT), never read."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.dal.accounts import UserItem, user_sk
from switchboard.dal.api_keys import ApiKeyItem, key_sk
from switchboard.dal.keys import account_pk
from switchboard.dal.sessions import SessionItem, user_sessions_key


@dataclass(frozen=True)
class Counts:
    """An account's credentials and people, as numbers only."""

    users: int
    api_keys: int
    sessions: int


def count(account_id: str, now: int) -> Counts:
    """Users, unexpired API keys and unexpired sessions of one account (items TTL has not removed yet excluded)."""
    pk = account_pk(account_id)
    # Only the user ids are read (a projection): the sessions index is partitioned by user.
    user_ids = [
        str(item.user_id)
        for item in UserItem.query(
            pk, UserItem.sk.startswith(user_sk("")), attributes_to_get=["user_id"], consistent_read=True
        )
    ]
    api_keys = ApiKeyItem.count(
        pk, ApiKeyItem.sk.startswith(key_sk("")), filter_condition=ApiKeyItem.expires_at > now, consistent_read=True
    )
    sessions = sum(
        SessionItem.by_user.count(user_sessions_key(account_id, user_id), filter_condition=SessionItem.expires_at > now)
        for user_id in user_ids
    )
    return Counts(users=len(user_ids), api_keys=api_keys, sessions=sessions)
