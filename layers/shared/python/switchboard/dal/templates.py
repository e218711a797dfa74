"""Message templates in the Accounts table: `ACCT#<id>` / `TPL#<name>#<language>` (one per name and language)."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import caps
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

PREFIX = "TPL#"
CAP_KIND = "templates"


class Exists(Exception):
    """The account already has a template of this name and language."""


def template_sk(name: str, language: str) -> str:
    """The sort key of a template: a send looks it up by name and language (names and codes hold no `#`)."""
    return f"{PREFIX}{name}#{language}"


class TemplateItem(BaseItem):
    """One template: its body with {{n}} placeholders, how many, and its review status."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    template_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    language = UnicodeAttribute()
    category = UnicodeAttribute()
    body = UnicodeAttribute()
    parameters = NumberAttribute()
    status = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    cap_slot = UnicodeAttribute(null=True)


def new_template(account_id: str, name: str, language: str, **attributes: Any) -> TemplateItem:
    """A template (not stored yet) under its key: one per name and language."""
    return TemplateItem(
        account_pk(account_id),
        template_sk(name, language),
        account_id=account_id,
        name=name,
        language=language,
        **attributes,
    )


def put(item: TemplateItem, *, cap: int) -> None:
    """Store a new template in one of the account's `cap` slots: Exists for a taken name and language."""

    def writes(transaction: TransactWrite, slot: str) -> None:
        item.cap_slot = slot
        transaction.save(item, condition=TemplateItem.pk.does_not_exist())

    try:
        caps.claim(item.account_id, CAP_KIND, cap, holder=item.sk, expires_at=None, writes=writes)
    except TransactWriteError as error:
        if error.cause_response_code == "TransactionCanceledException":
            raise Exists from error
        raise


def get(account_id: str, name: str, language: str) -> TemplateItem | None:
    """The account's template of this name and language, or None."""
    try:
        return TemplateItem.get(account_pk(account_id), template_sk(name, language), consistent_read=True)
    except DoesNotExist:
        return None


def list_all(account_id: str) -> list[TemplateItem]:
    """Every template of the account (at most its cap)."""
    return list(TemplateItem.query(account_pk(account_id), TemplateItem.sk.startswith(PREFIX), consistent_read=True))


def delete(item: TemplateItem) -> None:
    """Remove a template and free its slot at once."""

    def build(transaction: TransactWrite, with_slot: bool) -> None:
        transaction.delete(item)
        if with_slot:
            caps.free(transaction, item.account_id, item.cap_slot, item.sk)

    caps.freeing(build)
