"""The Accounts table: accounts, users, the global e-mail and sender-number lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

ACCOUNT_SK = "ACCOUNT"
EMAIL_SK = "EMAIL"
NUMBER_SK = "NUMBER"
TABLE = "Accounts"  # the catalog id: part of every sealed field's associated data


def user_sk(user_id: str) -> str:
    """The sort key of a user of an account."""
    return f"USER#{user_id}"


def item_key(pk: str, sk: str) -> str:
    """Where a sealed field lives, for its associated data."""
    return f"{pk}|{sk}"


class Sender(MapAttribute[str, Any]):
    """One of the account's own sender numbers."""

    channel = UnicodeAttribute()
    carrier = UnicodeAttribute()
    number = UnicodeAttribute()


class AccountItem(BaseItem):
    """pk = ACCT#<id>, sk = ACCOUNT."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    plan = UnicodeAttribute(default="free")
    status = UnicodeAttribute(default="active")
    created_at = NumberAttribute()
    purge_after = NumberAttribute(null=True)
    senders = ListAttribute[Sender](of=Sender, null=True)


class UserItem(BaseItem):
    """pk = ACCT#<id>, sk = USER#<usr_id>; the e-mail only sealed, the password only as a peppered Argon2id hash."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    user_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    email_sealed = UnicodeAttribute()
    email_index = UnicodeAttribute()
    role = UnicodeAttribute()
    password_phc = UnicodeAttribute()
    pepper_version = UnicodeAttribute()
    email_verified = BooleanAttribute(default=False)
    created_at = NumberAttribute()
    password_changed_at = NumberAttribute()
    failed_logins = NumberAttribute(default=0)  # consecutive, since the last success (R9: 100 → reset required)
    reset_required = BooleanAttribute(default=False)
    reset_digest = UnicodeAttribute(null=True)  # the newest reset token's digest: older tokens stop working
    sessions_not_before = NumberAttribute(default=0)  # sessions created earlier are dead (reset, removal)
    mfa_enabled = BooleanAttribute(default=False)
    totp_seed = UnicodeAttribute(null=True)  # sealed
    totp_pending = UnicodeAttribute(null=True)  # sealed, until activated with a code
    totp_last_step = NumberAttribute(null=True)
    recovery_codes = ListAttribute[str](null=True)  # Argon2id PHC strings
    recovery_pepper_version = UnicodeAttribute(null=True)
    # Keyed digests (per user) of the client IPs and user agents of recent logins: a new one earns a notice (R11).
    known_ips = ListAttribute[str](null=True)
    known_devices = ListAttribute[str](null=True)


class EmailItem(BaseItem):
    """Global: pk = EMAIL#<blind index>, sk = EMAIL → the one user with this address."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()


class NumberItem(BaseItem):
    """Global: pk = NUMBER#<e164>, sk = NUMBER → the account that owns a sender number (inbound routing)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    carrier = UnicodeAttribute()


class Taken(Exception):
    """A unique value (e-mail or sender number) already belongs to someone."""


@dataclass(frozen=True)
class NewSender:
    """A sender number to assign at signup."""

    channel: str
    carrier: str
    number: str


def create_account(account: AccountItem, owner: UserItem, senders: list[NewSender]) -> None:
    """Write the account, its owner, the e-mail lookup and the sender numbers at once; Taken if any is in use."""
    account.senders = [Sender(channel=s.channel, carrier=s.carrier, number=s.number) for s in senders]  # type: ignore[no-untyped-call]
    email = EmailItem(f"EMAIL#{owner.email_index}", EMAIL_SK, account_id=account.account_id, user_id=owner.user_id)
    connection = AccountItem._get_connection().connection
    try:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(account, condition=AccountItem.pk.does_not_exist())
            transaction.save(owner, condition=UserItem.pk.does_not_exist())
            transaction.save(email, condition=EmailItem.pk.does_not_exist())
            for sender in senders:
                number = NumberItem(
                    f"NUMBER#{sender.number}",
                    NUMBER_SK,
                    account_id=account.account_id,
                    channel=sender.channel,
                    carrier=sender.carrier,
                )
                transaction.save(number, condition=NumberItem.pk.does_not_exist())
    except TransactWriteError as error:
        if clients.conditional_failed(error):
            raise Taken("an e-mail or number is already taken") from error
        raise


def email_taken(email_index: str) -> bool:
    """True when a user already has this e-mail (by blind index)."""
    return find_by_email(email_index) is not None


def find_by_email(email_index: str) -> EmailItem | None:
    """The e-mail lookup item, or None."""
    try:
        return EmailItem.get(f"EMAIL#{email_index}", EMAIL_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_account(account_id: str) -> AccountItem | None:
    """The account, or None."""
    try:
        return AccountItem.get(account_pk(account_id), ACCOUNT_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_user(account_id: str, user_id: str) -> UserItem | None:
    """A user of the account, or None."""
    try:
        return UserItem.get(account_pk(account_id), user_sk(user_id), consistent_read=True)
    except DoesNotExist:
        return None


def find_number(number: str) -> NumberItem | None:
    """Which account owns a sender number (inbound routing), or None."""
    try:
        return NumberItem.get(f"NUMBER#{number}", NUMBER_SK, consistent_read=True)
    except DoesNotExist:
        return None


def update_user(user: UserItem, actions: list[Action]) -> None:
    """Apply `actions` to an existing user (never creates one)."""
    user.update(actions=actions, condition=UserItem.pk.exists())


def prove_email(user: UserItem, actions: list[Action]) -> bool:
    """Apply `actions` to a user whose e-mail is not yet verified; False when it already is (one proof wins)."""
    try:
        user.update(
            actions=actions,
            condition=UserItem.pk.exists()
            & (UserItem.email_verified.does_not_exist() | (UserItem.email_verified == False)),  # noqa: E712
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def rename_account(account_id: str, name: str) -> None:
    """Set an existing account's name."""
    AccountItem(account_pk(account_id), ACCOUNT_SK).update(
        actions=[AccountItem.name.set(name)], condition=AccountItem.pk.exists()
    )


def add_failed_login(user: UserItem) -> int:
    """Count one more consecutive failure and return the new count (atomic)."""
    user.update(actions=[UserItem.failed_logins.add(1)], condition=UserItem.pk.exists())
    return int(user.failed_logins)


def require_reset_once(user: UserItem) -> bool:
    """Flag the user as needing a password reset; True only for the call that set it (one e-mail)."""
    try:
        user.update(
            actions=[UserItem.reset_required.set(True)],
            condition=UserItem.pk.exists()
            & (UserItem.reset_required.does_not_exist() | (UserItem.reset_required == False)),  # noqa: E712
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def spend_totp_step(user: UserItem, step: int) -> bool:
    """Record `step` as the last accepted TOTP step if it is strictly later; False when it was already spent (R14)."""
    try:
        user.update(
            actions=[UserItem.totp_last_step.set(step)],
            condition=UserItem.totp_last_step.does_not_exist() | (UserItem.totp_last_step < step),
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def spend_recovery_code(user: UserItem, index: int, phc: str) -> bool:
    """Remove one recovery code if it is still at `index`; False when a concurrent use took it first."""
    try:
        user.update(
            actions=[UserItem.recovery_codes[index].remove()],
            condition=UserItem.recovery_codes[index] == phc,
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def new_account(account_id: str, **attributes: Any) -> AccountItem:
    """An account item (not stored yet) under its key."""
    return AccountItem(account_pk(account_id), ACCOUNT_SK, account_id=account_id, **attributes)


def new_user(account_id: str, user_id: str, **attributes: Any) -> UserItem:
    """A user item (not stored yet) under its key; seal its e-mail with `dal.sealed.seal(user, "email", …)`."""
    return UserItem(account_pk(account_id), user_sk(user_id), user_id=user_id, account_id=account_id, **attributes)
