"""The Accounts table: accounts, users, the global e-mail and sender-number lookups."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

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
from switchboard.dal.base import BaseItem, record_of
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
    message_retention_days = NumberAttribute(null=True)  # R60; absent: dal.retention.DEFAULT_DAYS
    record_calls = BooleanAttribute(null=True)  # voice calls recorded unless a message says no; absent: off


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
    # The blind-index key version `email_index` was made with; absent: blind_index_v1 (before versions were kept).
    email_index_version = UnicodeAttribute(null=True)


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
    """A sender number of an account (assigned at signup)."""

    channel: str
    carrier: str
    number: str


@dataclass(frozen=True)
class Account:
    """An account as logic sees it."""

    account_id: str
    name: str
    plan: str = "free"
    status: str = "active"
    created_at: int = 0
    purge_after: int | None = None
    senders: tuple[NewSender, ...] = ()
    message_retention_days: int | None = None
    record_calls: bool | None = None


@dataclass(frozen=True)
class User:
    """A user as logic sees it: the e-mail and TOTP seeds stay sealed until `open_field`, the password is a hash."""

    account_id: str
    user_id: str
    email_sealed: str
    email_index: str
    role: str
    password_phc: str
    pepper_version: str
    created_at: int
    password_changed_at: int
    email_verified: bool = False
    failed_logins: int = 0
    reset_required: bool = False
    reset_digest: str | None = None
    sessions_not_before: int = 0
    mfa_enabled: bool = False
    totp_seed: str | None = None
    totp_pending: str | None = None
    totp_last_step: int | None = None
    recovery_codes: tuple[str, ...] = ()
    recovery_pepper_version: str | None = None
    known_ips: tuple[str, ...] = ()
    known_devices: tuple[str, ...] = ()
    email_index_version: str | None = None  # None: blind_index_v1 (crypto.blind_index.FIRST_VERSION)


class NumberOwner(NamedTuple):  # which account owns a sender number (inbound routing)
    account_id: str
    channel: str
    carrier: str


class EmailOwner(NamedTuple):  # whom an e-mail address (by blind index) belongs to
    account_id: str
    user_id: str


def _account(item: AccountItem) -> Account:
    senders = tuple(NewSender(channel=s.channel, carrier=s.carrier, number=s.number) for s in item.senders or [])
    return record_of(Account, item, senders=senders)


def user_record(item: UserItem) -> User:
    """The record of a stored user (the repositories that read users by their own queries: dal.members)."""
    return record_of(User, item)


def user_item(user: User) -> UserItem:
    """The stored form of a user (the repositories that write users in their own transactions: dal.members)."""
    values = {f.name: getattr(user, f.name) for f in dataclasses.fields(User)}
    stored: dict[str, Any] = {
        name: list(v) if isinstance(v, tuple) else v for name, v in values.items() if v is not None
    }
    for name in ("recovery_codes", "known_ips", "known_devices"):
        if not stored[name]:
            del stored[name]  # never stored empty: absent, as before any was set
    return UserItem(account_pk(user.account_id), user_sk(user.user_id), **stored)


def user_key(user: User) -> UserItem:
    """The stored user's key alone (what updates, deletes and condition checks address)."""
    return UserItem(account_pk(user.account_id), user_sk(user.user_id), account_id=user.account_id)


def create_account(account: Account, owner: User, senders: list[NewSender]) -> None:
    """Write the account, its owner, the e-mail lookup and the sender numbers at once; Taken if any is in use."""
    stored = {f.name: getattr(account, f.name) for f in dataclasses.fields(Account) if f.name != "senders"}
    account_item = AccountItem(account_pk(account.account_id), ACCOUNT_SK, **stored)
    account_item.senders = [Sender(channel=s.channel, carrier=s.carrier, number=s.number) for s in senders]  # type: ignore[no-untyped-call]
    email = EmailItem(f"EMAIL#{owner.email_index}", EMAIL_SK, account_id=account.account_id, user_id=owner.user_id)
    connection = AccountItem._get_connection().connection
    try:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(account_item, condition=AccountItem.pk.does_not_exist())
            transaction.save(user_item(owner), condition=UserItem.pk.does_not_exist())
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


def find_by_email(email_index: str) -> EmailOwner | None:
    """Whom the e-mail (by blind index) belongs to, or None."""
    try:
        item = EmailItem.get(f"EMAIL#{email_index}", EMAIL_SK, consistent_read=True)
        return EmailOwner(item.account_id, item.user_id)
    except DoesNotExist:
        return None


def get_account(account_id: str) -> Account | None:
    """The account, or None."""
    try:
        return _account(AccountItem.get(account_pk(account_id), ACCOUNT_SK, consistent_read=True))
    except DoesNotExist:
        return None


def get_user(account_id: str, user_id: str) -> User | None:
    """A user of the account, or None."""
    try:
        return user_record(UserItem.get(account_pk(account_id), user_sk(user_id), consistent_read=True))
    except DoesNotExist:
        return None


def find_number(number: str) -> NumberOwner | None:
    """Which account owns a sender number (inbound routing), or None."""
    try:
        item = NumberItem.get(f"NUMBER#{number}", NUMBER_SK, consistent_read=True)
        return NumberOwner(item.account_id, item.channel, item.carrier)
    except DoesNotExist:
        return None


def _actions(changes: dict[str, Any]) -> list[Action]:
    """`changes` as update actions: None removes an attribute, a tuple is stored as a list."""
    actions: list[Action] = []
    for name, value in changes.items():
        if name not in UserItem.get_attributes() or name in ("pk", "sk", "account_id", "user_id"):
            raise ValueError(f"not a changeable user attribute: {name}")
        attribute = getattr(UserItem, name)
        stored = list(value) if isinstance(value, tuple) else value
        actions.append(attribute.remove() if value is None else attribute.set(stored))
    return actions


def update_user(user: User, **changes: Any) -> User:
    """Apply `changes` (attribute → value, None removes) to an existing user (never creates one); the user after."""
    user_key(user).update(actions=_actions(changes), condition=UserItem.pk.exists())
    defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(User)}
    return dataclasses.replace(user, **{name: defaults[name] if v is None else v for name, v in changes.items()})


def prove_email(user: User, **changes: Any) -> bool:
    """Apply `changes` to a user whose e-mail is not yet verified; False when it already is (one proof wins)."""
    try:
        user_key(user).update(
            actions=_actions(changes),
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


def change_status(account_id: str, *, was: str, to: str) -> bool:
    """Move an existing account from status `was` to `to` in one conditional write; False when it is not in `was`
    (so of two racing operators exactly one moves it)."""
    try:
        AccountItem(account_pk(account_id), ACCOUNT_SK).update(
            actions=[AccountItem.status.set(to)],
            condition=AccountItem.pk.exists() & (AccountItem.status == was),
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def add_failed_login(user: User) -> int:
    """Count one more consecutive failure and return the new count (atomic)."""
    item = user_key(user)
    item.update(actions=[UserItem.failed_logins.add(1)], condition=UserItem.pk.exists())
    return int(item.failed_logins)


def require_reset_once(user: User) -> bool:
    """Flag the user as needing a password reset; True only for the call that set it (one e-mail)."""
    try:
        user_key(user).update(
            actions=[UserItem.reset_required.set(True)],
            condition=UserItem.pk.exists()
            & (UserItem.reset_required.does_not_exist() | (UserItem.reset_required == False)),  # noqa: E712
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def spend_totp_step(user: User, step: int) -> bool:
    """Record `step` as the last accepted TOTP step if it is strictly later; False when it was already spent (R14)."""
    try:
        user_key(user).update(
            actions=[UserItem.totp_last_step.set(step)],
            condition=UserItem.totp_last_step.does_not_exist() | (UserItem.totp_last_step < step),
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def spend_recovery_code(user: User, index: int, phc: str) -> bool:
    """Remove one recovery code if it is still at `index`; False when a concurrent use took it first."""
    try:
        user_key(user).update(
            actions=[UserItem.recovery_codes[index].remove()],
            condition=UserItem.recovery_codes[index] == phc,
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


# A sealed field's name in its associated data, and the attribute that holds it.
_SEALED = {"email": "email_sealed", "totp_seed": "totp_seed", "totp_pending": "totp_pending"}


def seal(user: User, field: str, value: str) -> str:
    """`value` sealed to this user and `field` (email, totp_seed, totp_pending), to store with `update_user`."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a value is sealed, not in the authorizer

    if field not in _SEALED:
        raise ValueError(f"not a sealed user field: {field}")
    return sealed.seal(user_key(user), field, value)


def open_field(user: User, field: str) -> str:
    """A sealed field of the user (email, totp_seed, totp_pending) in clear (never logged)."""
    from switchboard.dal import sealed  # noqa: PLC0415 - the envelope only where a value is opened, not in the authorizer

    return sealed.open_field(user_key(user), field, getattr(user, _SEALED[field]) or "")


def new_account(account_id: str, **attributes: Any) -> Account:
    """An account (not stored yet): `create_account` stores it."""
    return Account(account_id=account_id, **attributes)


def new_user(account_id: str, user_id: str, *, email: str, **attributes: Any) -> User:
    """A user (not stored yet), its e-mail sealed to it: `create_account` or `dal.members.join` stores it."""
    user = User(account_id=account_id, user_id=user_id, email_sealed="", **attributes)
    return dataclasses.replace(user, email_sealed=seal(user, "email", email))


def move_email_lookup(user: User, *, index: str, version: str) -> bool:
    """Re-key a user's e-mail lookup under another blind-index version (rehash on use after a rotation).

    One transaction: the new lookup (never over another user's), the old one deleted only while it is still this
    user's, the user's `email_index` moved only while it is still the old one. False when a concurrent change won.
    """
    old = EmailItem(f"EMAIL#{user.email_index}", EMAIL_SK)
    new = EmailItem(f"EMAIL#{index}", EMAIL_SK, account_id=user.account_id, user_id=user.user_id)
    connection = UserItem._get_connection().connection
    try:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(new, condition=EmailItem.pk.does_not_exist())
            transaction.delete(old, condition=EmailItem.user_id == user.user_id)
            transaction.update(
                user_key(user),
                actions=[UserItem.email_index.set(index), UserItem.email_index_version.set(version)],
                condition=UserItem.email_index == user.email_index,
            )
    except TransactWriteError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True
