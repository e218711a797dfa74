"""Members and invitations: `ACCT#<id>`/`USER#…` users, `ACCT#<id>`/`INVITE#<e-mail index>`, and invite tokens."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from switchboard import catalog, clock
from switchboard.dal import accounts, caps
from switchboard.dal.accounts import EMAIL_SK, EmailItem, User, UserItem
from switchboard.dal.base import BaseItem, record_of
from switchboard.dal.keys import account_pk
from switchboard.dal.sessions import token_pk

INVITE_PREFIX = "INVITE#"
INVITE_TOKEN_SK = "INVITE"  # noqa: S105 - a sort key, not a secret
USER_PREFIX = "USER#"
CAP_KIND = "invitations"


def invitation_sk(email_index: str) -> str:
    """One pending invitation per e-mail and account: inviting again replaces it (and its link)."""
    return f"{INVITE_PREFIX}{email_index}"


class InvitationItem(BaseItem):
    """pk = ACCT#<id>, sk = INVITE#<e-mail blind index>; the e-mail sealed, the token only as its digest."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    invitation_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    email_sealed = UnicodeAttribute()
    email_index = UnicodeAttribute()
    role = UnicodeAttribute()
    invited_by = UnicodeAttribute()
    created_at = NumberAttribute()
    token_digest = UnicodeAttribute()  # the newest link's digest: an older link of a replaced invitation fails
    expires_at = NumberAttribute()  # 7 days; TTL and the purge job remove it afterwards
    cap_slot = UnicodeAttribute(null=True)  # the slot it holds under the account's cap until it expires (dal.caps)


class InviteTokenItem(BaseItem):
    """Global: pk = TOKEN#<sha256(token)>, sk = INVITE → the invitation (the invitee has no account yet)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Sessions").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    email_index = UnicodeAttribute()
    expires_at = NumberAttribute()
    # Set when the invitation was revoked because its inviter lost the right: the link then answers "revoked"
    # (410) once, instead of looking like any unknown link.
    revoked = UnicodeAttribute(null=True)


@dataclass(frozen=True)
class Invitation:
    """A pending invitation as logic sees it: the e-mail sealed until `open_field`, its link only as the digest."""

    account_id: str
    email_index: str
    invitation_id: str
    email_sealed: str
    role: str
    invited_by: str
    created_at: int
    token_digest: str  # the newest link's: an older link of a replaced invitation fails
    expires_at: int
    cap_slot: str | None = None  # set by `put_invitation`


@dataclass(frozen=True)
class InviteLink:
    """An invitation link by its digest: which invitation it opens, until when, and why it was revoked (if so)."""

    token_digest: str
    account_id: str
    email_index: str
    expires_at: int
    revoked: str | None = None


def _item(invitation: Invitation) -> InvitationItem:
    stored = {f.name: getattr(invitation, f.name) for f in dataclasses.fields(Invitation)}
    return InvitationItem(account_pk(invitation.account_id), invitation_sk(invitation.email_index), **stored)


def _holder(invitation: Invitation) -> str:
    """What holds the invitation's cap slot: its sort key."""
    return invitation_sk(invitation.email_index)


class Refused(Exception):
    """A transaction's condition failed; `reason` names which one (email_taken, stale, last_owner, gone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _connection() -> object:
    return UserItem._get_connection().connection


def _reasons(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason is not None else None for reason in error.cancellation_reasons]


def _failed_at(error: TransactWriteError, labels: list[str]) -> str:
    """The label of the first operation whose condition failed; "conflict" for a concurrent transaction.

    PynamoDB sends condition checks, then deletes, then puts, then updates: `labels` follow that order.
    """
    if error.cause_response_code != "TransactionCanceledException":
        raise error
    for label, code in zip(labels, _reasons(error), strict=False):
        if code == "ConditionalCheckFailed":
            return label
    return "conflict"


def users(account_id: str) -> list[User]:
    """Every user of the account, oldest first (user ids sort by creation time)."""
    query = UserItem.query(account_pk(account_id), UserItem.sk.startswith(USER_PREFIX), consistent_read=True)
    return [accounts.user_record(item) for item in query]


def invitations(account_id: str) -> list[Invitation]:
    """Every stored invitation of the account (the caller drops expired ones)."""
    query = InvitationItem.query(
        account_pk(account_id), InvitationItem.sk.startswith(INVITE_PREFIX), consistent_read=True
    )
    return [record_of(Invitation, item) for item in query]


def get_invitation(account_id: str, email_index: str) -> Invitation | None:
    """The pending invitation of this e-mail to this account, or None."""
    try:
        item = InvitationItem.get(account_pk(account_id), invitation_sk(email_index), consistent_read=True)
    except DoesNotExist:
        return None
    return record_of(Invitation, item)


def get_invite_token(digest: str) -> InviteLink | None:
    """An invitation link by its digest, or None."""
    try:
        item = InviteTokenItem.get(token_pk(digest), INVITE_TOKEN_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return record_of(InviteLink, item, token_digest=digest)


def put_invitation(invitation: Invitation, *, previous: Invitation | None, cap: int) -> Invitation:
    """Store (or replace) an invitation and its link; a replaced invitation's link dies in the same write.

    A new invitation claims one of the account's `cap` slots (caps.CapReached when none is free); replacing a live
    one keeps its slot, which now ends with the new expiry. Refused("stale") when another request stored or replaced
    an invitation of this address meanwhile. The invitation as stored (with its slot).
    """
    item, token_digest = _item(invitation), invitation.token_digest
    token = InviteTokenItem(
        token_pk(token_digest),
        INVITE_TOKEN_SK,
        account_id=item.account_id,
        email_index=item.email_index,
        expires_at=int(item.expires_at),
    )
    now = int(clock.timestamp())
    live = previous is not None and int(previous.expires_at) > now
    unchanged: Condition = (
        InvitationItem.token_digest == previous.token_digest
        if previous is not None
        else InvitationItem.pk.does_not_exist()
    )

    def writes(transaction: TransactWrite, slot: str | None) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=unchanged)
        transaction.save(token, condition=InviteTokenItem.pk.does_not_exist())
        if previous is not None and previous.token_digest != token_digest:
            transaction.delete(InviteTokenItem(token_pk(previous.token_digest), INVITE_TOKEN_SK))

    try:
        if live and previous is not None and previous.cap_slot:
            with TransactWrite(connection=_connection()) as transaction:
                writes(transaction, previous.cap_slot)
                caps.set_expiry(transaction, item.account_id, previous.cap_slot, item.sk, int(item.expires_at))
        else:
            caps.claim(item.account_id, CAP_KIND, cap, holder=item.sk, expires_at=int(item.expires_at), writes=writes)
    except TransactWriteError as error:
        raise Refused(_failed_at(error, ["stale"])) from error
    return dataclasses.replace(invitation, cap_slot=item.cap_slot)


def delete_invitation(item: Invitation) -> None:
    """Cancel an invitation: it, its link and its slot are gone."""

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(_item(item))
        transaction.delete(InviteTokenItem(token_pk(item.token_digest), INVITE_TOKEN_SK))
        if with_slot:
            caps.free(transaction, item.account_id, item.cap_slot, _holder(item))

    caps.freeing(build)


def revoke_invitation(item: Invitation, *, reason: str) -> None:
    """Revoke an invitation: it is gone, and its link stays only to answer that it was revoked (until it expires)."""
    token = InviteTokenItem(token_pk(item.token_digest), INVITE_TOKEN_SK)

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(_item(item))
        transaction.update(token, actions=[InviteTokenItem.revoked.set(reason)], condition=InviteTokenItem.pk.exists())
        if with_slot:
            caps.free(transaction, item.account_id, item.cap_slot, _holder(item))

    try:
        caps.freeing(build)
    except TransactWriteError as error:
        if _failed_at(error, ["stale", "gone"]) != "gone":
            raise
        delete_invitation(item)


def delete_invite_token(digest: str) -> None:
    """Forget a link (a revoked one, once it has answered)."""
    InviteTokenItem(token_pk(digest), INVITE_TOKEN_SK).delete()


def join(user: User, invitation: Invitation, *, inviter: User | None = None) -> None:
    """Create the member, claim the e-mail, spend the invitation and its link, all at once.

    Refused("email_taken") when the address already belongs to a user (one user, one account);
    Refused("stale") when the invitation was replaced, cancelled or accepted meanwhile;
    Refused("inviter_changed") when `inviter` was removed or their role changed since it was read.
    """
    email = EmailItem(f"EMAIL#{user.email_index}", EMAIL_SK, account_id=user.account_id, user_id=user.user_id)
    token = InviteTokenItem(token_pk(invitation.token_digest), INVITE_TOKEN_SK)
    labels = ["stale", "stale", "email_taken", "gone"]  # deletes, then puts
    if inviter is not None:
        labels.insert(0, "inviter_changed")  # condition checks go first

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        if inviter is not None:
            key = accounts.user_key(inviter)
            transaction.condition_check(
                UserItem,
                key.pk,
                key.sk,
                condition=(UserItem.role == inviter.role) & (UserItem.reset_required == bool(inviter.reset_required)),
            )
        transaction.save(email, condition=EmailItem.pk.does_not_exist())
        transaction.delete(_item(invitation), condition=InvitationItem.token_digest == invitation.token_digest)
        transaction.delete(token, condition=InviteTokenItem.pk.exists())
        transaction.save(accounts.user_item(user), condition=UserItem.pk.does_not_exist())
        if with_slot:
            caps.free(transaction, invitation.account_id, invitation.cap_slot, _holder(invitation))

    try:
        caps.freeing(build)
    except TransactWriteError as error:
        raise Refused(_failed_at(error, labels)) from error


def _must_stay_owner(transaction: TransactWrite, other_owner: User) -> None:
    key = accounts.user_key(other_owner)
    transaction.condition_check(UserItem, key.pk, key.sk, condition=UserItem.role == "owner")


def change_role(user: User, role: str, *, other_owner: User | None) -> None:
    """Set the user's role if it is still what was read; an owner's demotion needs `other_owner` to stay owner."""
    labels = ["last_owner", "stale"] if other_owner is not None else ["stale"]  # the check, then the update
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(
                accounts.user_key(user), actions=[UserItem.role.set(role)], condition=UserItem.role == user.role
            )
            if other_owner is not None:
                _must_stay_owner(transaction, other_owner)
    except TransactWriteError as error:
        raise Refused(_failed_at(error, labels)) from error


def remove(user: User, *, other_owner: User | None) -> None:
    """Delete the member and release their e-mail at once; removing an owner needs `other_owner` to stay owner."""
    labels = ["last_owner", "stale", "stale"] if other_owner is not None else ["stale", "stale"]
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.delete(accounts.user_key(user), condition=UserItem.role == user.role)
            if other_owner is not None:
                _must_stay_owner(transaction, other_owner)
            transaction.delete(EmailItem(f"EMAIL#{user.email_index}", EMAIL_SK))
    except TransactWriteError as error:
        raise Refused(_failed_at(error, labels)) from error


def new_invitation(account_id: str, email_index: str, *, email: str, **attributes: Any) -> Invitation:
    """An invitation (not stored yet; one per invited address, by blind index), its e-mail sealed to it."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a value is sealed

    invitation = Invitation(account_id=account_id, email_index=email_index, email_sealed="", **attributes)
    return dataclasses.replace(invitation, email_sealed=sealed.seal(_item(invitation), "email", email))


def open_field(invitation: Invitation, field: str) -> str:
    """A sealed field of the invitation (`email`) in clear (never logged)."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a value is opened

    return sealed.open_field(_item(invitation), field, {"email": invitation.email_sealed}[field])
