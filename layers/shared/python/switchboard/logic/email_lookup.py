"""Whom an e-mail address belongs to, under every live blind-index key version (rotation, docs/runbooks.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from switchboard.crypto import blind_index
from switchboard.dal import accounts as accounts_dal
from switchboard.dal.accounts import EmailOwner, User
from switchboard.observability import logger


@dataclass(frozen=True)
class Found:
    """The owner of an address, and the key version its lookup was stored under."""

    owner: EmailOwner
    version: str
    index: str


def find(email: str) -> Found | None:
    """The address's owner: the current version's lookup first, then each older live version's."""
    for version, index in blind_index.email_indexes(email):
        owner = accounts_dal.find_by_email(index)
        if owner is not None:
            return Found(owner, version, index)
    return None


def owner(email: str) -> EmailOwner | None:
    """find(email)'s owner alone."""
    found = find(email)
    return found.owner if found else None


def taken(email: str) -> bool:
    """True when a user has this address under any live version (one address, one user, across rotations)."""
    return find(email) is not None


def refresh(user: User, email: str, found: Found) -> User:
    """After a proven login: a lookup stored under an older version moves to the current one (rehash on use), so the
    older version can be retired once no user is left on it. Best effort: a lost race leaves the old lookup, which
    still works."""
    current = blind_index.current_version()
    if found.version == current or found.owner.user_id != user.user_id:
        return user
    index = blind_index.email_index(email, current)
    if accounts_dal.move_email_lookup(user, index=index, version=current):
        logger.info("e-mail lookup re-keyed", extra={"from_version": found.version, "to_version": current})
        return dataclasses.replace(user, email_index=index, email_index_version=current)
    return user
