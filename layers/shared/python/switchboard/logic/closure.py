"""Account closure (R61, R24): the owner's deletion request, restore before the purge, and the full export."""

from __future__ import annotations

import json
from typing import Any

from cryptography.exceptions import InvalidTag

from switchboard import catalog, clock, settings
from switchboard.auth import Principal
from switchboard.crypto import blind_index, envelope, passwords, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import closure as closure_dal
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import Account, User
from switchboard.logic import account_info as account_logic
from switchboard.logic import audit, email_lookup, mfa, notices, sessions, standing, throttle
from switchboard.logic.sessions import InvalidCredentials
from switchboard.models.closure import DeleteAccountIn, DeletionOut, RestoreIn, RestoreOut
from switchboard.models.errors import Conflict, Forbidden, PayloadTooLarge, ProblemError, Unauthorized, ValidationFailed
from switchboard.models.permissions import Role
from switchboard.models.request import RequestMeta

GRACE_S = 30 * 24 * 60 * 60  # R61: live data goes within 30 days of the request; restore is possible until then
# Lambda answers at most 6 MB (the proxy response, whose body is the export as an escaped JSON string); headers
# and the envelope of the response take the rest.
EXPORT_MAX_BYTES = 6 * 1024 * 1024 - 64 * 1024
AUDIT_PAGE = 100
# The tables that hold an account's own records, by catalog id (the id is part of every sealed field's binding).
# Sessions (GET /v1/sessions shows them), Idempotency (a 24-hour replay cache that may hold a once-shown secret),
# Limits (counters) and Keyring (key material) are not customer records and are left out on purpose.
EXPORT_TABLES: tuple[tuple[str, str], ...] = tuple((t, catalog.table(t).env) for t in ("Accounts", "Messaging"))
# Never exported: credentials, their verifiers and seeds in every object class (users' password hashes, TOTP seeds
# and recovery codes, API key hashes, webhook endpoints' and each message's one-time callback secret, link digests),
# blind indexes and index keys (they identify nothing to a reader). Matched by name, so a secret field added later
# is withheld without a change here; values that carry a credential's form are withheld whatever their field's name.
_WITHHELD = frozenset({"pepper_version", "recovery_pepper_version", "email_index_version", "wrapped_key", "lock_token"})
_WITHHELD_SUFFIXES = ("_hash", "_digest", "_phc", "_index")
_SECRET_MARKERS = ("secret", "seed", "password", "passphrase", "token", "recovery", "totp", "pepper", "private_key")
_SECRET_VALUE_PREFIXES = ("whsec_", "sb_live_", "sb_test_", tokens.SESSION_PREFIX, "$argon2")
_SEALED_SUFFIX = "_sealed"


class AccountPurged(ProblemError):
    """410: the account's purge time has passed; it can no longer be restored."""

    status = 410
    code = "account_purged"
    title = "Gone"


class NotPendingDeletion(Conflict):
    """409: restore asked for an account that is not pending deletion."""

    code = "not_pending_deletion"


class ExportTooLarge(PayloadTooLarge):
    """413: the export would not fit in one answer (Lambda's 6 MB)."""

    code = "export_too_large"


def _owners(account_id: str) -> list[User]:
    return notices.owners(account_id)


def _tell_owners(account_id: str, subject: str, body: str) -> None:
    """One e-mail to every owner of the account (while its data key still opens their addresses)."""
    notices.tell_owners(account_id, subject, body)


def _second_factor(user: User, totp_code: str | None, recovery_code: str | None, meta: RequestMeta) -> None:
    # Called inside an admitted attempt, which counts a SecondFactorFailed against the attempt's slots.
    if user.mfa_enabled:
        mfa.verify_second_factor(user, totp_code=totp_code, recovery_code=recovery_code, meta=meta)


def request_deletion(principal: Principal, body: DeleteAccountIn | None, meta: RequestMeta) -> DeletionOut:
    """DELETE /v1/account: password (+ second factor) like a re-authentication, then access stops at once."""
    if body is None:
        raise ValidationFailed(
            "Confirm with your password.", errors=[{"pointer": "/password", "message": "Field required."}]
        )
    user = accounts_dal.get_user(principal.account_id, principal.principal)
    if user is None:
        raise Unauthorized("The session's user no longer exists.")
    with sessions.password_attempt(user, body.password, meta):
        _second_factor(user, body.totp_code, body.recovery_code, meta)
    now = int(clock.timestamp())
    purge_after = now + GRACE_S
    if not closure_dal.mark_pending(principal.account_id, now=now, purge_after=purge_after):
        raise Conflict("Only an active account can be deleted.", code="account_not_active")
    # The authorizer refuses every credential of a pending account already; ending the sessions makes sure none
    # comes back if the account is restored.
    ended = sum(
        sessions.end_all(principal.account_id, member.user_id, reason="account_deletion", meta=meta)
        for member in members_dal.users(principal.account_id)
    )
    audit.record(
        account_id=principal.account_id,
        type="account.deletion_requested",
        outcome="success",
        actor=user.user_id,
        meta=meta,
        data={"purge_after": clock.rfc3339_at(purge_after), "sessions_ended": ended},
    )
    _tell_owners(
        principal.account_id,
        "your account will be deleted",
        f"Your Switchboard account was closed and every session and API key stopped working. All of its data will "
        f"be deleted for good after {clock.rfc3339_at(purge_after)}. Until then an owner can restore it with "
        "POST /v1/account/restore (e-mail and password). If this was not you, restore it and reset your password.",
    )
    return DeletionOut(status="pending_deletion", purge_after=clock.rfc3339_at(purge_after))


def restore(body: RestoreIn, meta: RequestMeta) -> RestoreOut:
    """POST /v1/account/restore: an owner's e-mail and password (+ second factor), the login throttles and answers."""
    with sessions.uniform_failure_time():  # the same R8 floor as a login
        return _restore(body, meta)


def _restore(body: RestoreIn, meta: RequestMeta) -> RestoreOut:
    index = blind_index.email_index(body.email)
    with throttle.attempt(index, meta.source_ip) as attempt:
        lookup = email_lookup.owner(body.email)  # under any live blind-index key version
        user = accounts_dal.get_user(lookup.account_id, lookup.user_id) if lookup else None
        if user is None:
            passwords.burn_equal_time(body.password)  # unknown (or purged) e-mails cost one Argon2id too (R8)
            attempt.failed()
            raise InvalidCredentials
        sessions.verify_password(user, body.password, meta, attempt)
        try:
            _second_factor(user, body.totp_code, body.recovery_code, meta)
        except mfa.SecondFactorFailed as failure:
            sessions.count_failure(user, meta, reason=failure.reason, attempt=attempt)
            raise
        # Past this point the caller proved the password: the account's state is theirs to know.
        if user.role != Role.OWNER.value:
            raise Forbidden("Only an owner can restore the account.", code="forbidden")
        account = accounts_dal.get_account(user.account_id)
        if account is None:
            raise InvalidCredentials
        _restore_account(account)
        attempt.succeeded()
    if user.failed_logins:
        accounts_dal.update_user(user, failed_logins=0)
    audit.record(
        account_id=account.account_id, type="account.restored", outcome="success", actor=user.user_id, meta=meta
    )
    _tell_owners(
        account.account_id,
        "your account was restored",
        "Your Switchboard account was restored: its deletion is cancelled and everyone can log in again. API keys "
        "work again. If this was not you, reset your password.",
    )
    return RestoreOut(status="active")


def _restore_account(account: Account) -> None:
    now = int(clock.timestamp())
    if account.status != closure_dal.PENDING or account.purge_after is None:
        raise NotPendingDeletion("This account is not pending deletion.")
    purge_after = int(account.purge_after)
    if now >= purge_after:
        raise AccountPurged("The account's deletion time has passed; it can no longer be restored.")
    if not closure_dal.mark_active(account.account_id, purge_after=purge_after, now=now):
        raise NotPendingDeletion("This account is not pending deletion.")
    # Sends and webhooks held while it was closed go out again (what is still valid) on the release job's next run.
    standing.resume(account.account_id)


# --- export ---------------------------------------------------------------------------------------------------------


class _Budget:
    """Counts the export's size as it grows, so a huge account stops early instead of filling memory."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, value: Any) -> None:
        self.used += len(json.dumps(value, separators=(",", ":"), default=str)) + 1
        if self.used > EXPORT_MAX_BYTES:
            raise ExportTooLarge(
                "This account's export is larger than one answer can carry (6 MB). Contact support for a bulk export.",
            )


def _withheld(name: str) -> bool:
    bare = name.lower().removesuffix(_SEALED_SUFFIX)
    return (
        name in _WITHHELD
        or closure_dal.storage_attribute(name)
        or bare.endswith(_WITHHELD_SUFFIXES)
        # A time is no secret (`password_changed_at` is the customer's record): every other marked name is.
        or (not bare.endswith("_at") and any(marker in bare for marker in _SECRET_MARKERS))
    )


def _scrub(value: Any) -> Any:
    """`value` without a secret-named member or a credential-shaped string at any depth (None stands in)."""
    if isinstance(value, str):
        return None if value.startswith(_SECRET_VALUE_PREFIXES) else value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not (isinstance(k, str) and _withheld(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    return value


def _open_field(account_id: str, table: str, item: dict[str, Any], name: str, sealed: str) -> str | None:
    """Open a sealed value by the envelope binding (table, `pk|sk`, field); None when it does not open."""
    item_key = closure_dal.sealing_key(item)
    # Modules name the field either after the attribute without `_sealed` (identity: "email") or the attribute itself
    # (messaging: "phone_sealed"); GCM's tag tells which binding is right.
    for field in dict.fromkeys((name.removesuffix(_SEALED_SUFFIX), name)):
        try:
            return envelope.open_sealed(account_id, sealed, table=table, item_key=item_key, field=field)
        except (InvalidTag, ValueError):
            continue
    return None


def export_record(account_id: str, table: str, item: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One stored item as the customer sees it: sealed values opened, secrets withheld; and how many did not open."""
    record: dict[str, Any] = {}
    unreadable = 0
    for name, value in sorted(item.items()):
        if _withheld(name):
            continue
        if isinstance(value, str) and value.startswith(f"{envelope.PREFIX}."):
            opened = _open_field(account_id, table, item, name, value)
            unreadable += opened is None
            record[name.removesuffix(_SEALED_SUFFIX)] = _scrub(opened)
        else:
            record[name] = _scrub(value)
    return record, unreadable


def _stored(rows: list[dict[str, Any]], *, id_prefix: str, route: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Stored files of one kind (`FILE#<id_prefix>…`) as links, not bytes: each one's content is fetched from the
    API at `<route>/<id>/content`."""
    base = settings.get().public_base_url
    return [
        {
            "id": row["file_id"],
            **{name: row.get(name) for name in fields},
            "created_at": clock.rfc3339_at(int(row.get("created_at") or 0)),
            "content": f"{base}{route}/{row['file_id']}/content",
        }
        for row in rows
        if str(row.get("sk", "")).startswith(f"FILE#{id_prefix}") and row.get("file_id")
    ]


def _files(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The account's files (docs/files.md)."""
    fields = ("status", "content_type", "size", "sha256", "filename")
    return _stored(rows, id_prefix="fil_", route="/v1/files", fields=fields)


def _recordings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The account's call recordings (docs/recordings.md): each read through the API is audited."""
    fields = ("message_id", "content_type", "size", "sha256")
    return _stored(rows, id_prefix="rec_", route="/v1/recordings", fields=fields)


def _inbound_media(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The files of inbound messages (docs/conversations.md), served by the files route."""
    fields = ("message_id", "content_type", "size", "sha256")
    return _stored(rows, id_prefix="inm_", route="/v1/files", fields=fields)


def export(principal: Principal, meta: RequestMeta) -> str:
    """GET /v1/account/export: every record of the account as one JSON document (owner, session, recent login)."""
    account_id = principal.account_id
    budget = _Budget()
    overview = account_logic.get_account(principal).model_dump(exclude_none=True)
    records: dict[str, list[dict[str, Any]]] = {}
    unreadable = 0
    for table, env in EXPORT_TABLES:
        table_name = settings.get().tables.get(env)
        if table_name is None:
            continue
        rows: list[dict[str, Any]] = []
        for item in closure_dal.account_items(env, table_name, account_id):
            if item.is_account:
                continue  # the account itself is `account` above
            record, closed = export_record(account_id, table, item.values)
            budget.take(record)
            rows.append(record)
            unreadable += closed
        records[table] = rows
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = audit.list_events(account_id, limit=AUDIT_PAGE, cursor=cursor)
        for event in page.data:
            dumped = _scrub(event.model_dump())
            budget.take(dumped)
            events.append(dumped)
        cursor = page.next_cursor
        if cursor is None:
            break
    document = {
        "format": "switchboard.account-export.v1",
        "exported_at": clock.rfc3339(clock.now()),
        "account": overview,
        "records": records,
        "files": _files(records.get("Messaging", [])),
        "recordings": _recordings(records.get("Messaging", [])),
        "inbound_media": _inbound_media(records.get("Messaging", [])),
        "audit_events": events,
        "unreadable_fields": unreadable,
    }
    text = json.dumps(document, separators=(",", ":"), default=str)
    if len(json.dumps(text)) > EXPORT_MAX_BYTES:  # the body travels as an escaped string inside Lambda's answer
        raise ExportTooLarge("This account's export is larger than one answer can carry (6 MB).")
    audit.record(
        account_id=account_id,
        type="account.exported",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        data={"records": sum(len(rows) for rows in records.values()), "audit_events": len(events)},
    )
    return text
