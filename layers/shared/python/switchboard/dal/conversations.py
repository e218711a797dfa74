"""Conversations: one item per recipient who wrote to the account, newest activity first on gsi1 (Messaging table).

An item holds no number and no content: the recipient's id, when and how the last message went, and how many of
theirs are unread. It begins with the person's first inbound message; our sends to them only move its activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk
from switchboard.dal.recipients import ERASING_ATTR, recipient_sk

SK_PREFIX = "CONV#"


def conversation_sk(recipient_id: str) -> str:
    """Sort key of a recipient's conversation."""
    return f"{SK_PREFIX}{recipient_id}"


def by_activity_pk(account_id: str) -> str:
    """gsi1 partition of an account's conversations, sorted by last activity."""
    return f"{account_pk(account_id)}#CONV"


def activity_sk(at: int, recipient_id: str) -> str:
    """gsi1 sort key of a conversation: its last activity (epoch seconds) first."""
    return f"{at:012d}#{recipient_id}"


@dataclass(frozen=True)
class Conversation:
    """A recipient's conversation: last activity (epoch seconds), its direction and channel, unread inbound count."""

    recipient_id: str
    last_message_at: int
    last_direction: str
    last_channel: str
    unread_count: int = 0
    last_read_at: int | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Conversation:
        """A stored item as a record."""
        read = item.get("last_read_at")
        return cls(
            recipient_id=str(item["recipient_id"]),
            last_message_at=int(item.get("last_message_at") or 0),
            last_direction=str(item.get("last_direction") or ""),
            last_channel=str(item.get("last_channel") or ""),
            unread_count=max(0, int(item.get("unread_count") or 0)),
            last_read_at=None if read is None else int(read),
        )


def _live_recipient(pk: str, recipient_id: str) -> dict[str, Any]:
    # A conversation is written only while its recipient exists and is not being erased: an erasure deletes it,
    # and nothing may bring it back afterwards.
    return {
        "ConditionCheck": {
            "Key": table.key(pk, recipient_sk(recipient_id)),
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#erasing)",
            "ExpressionAttributeNames": {"#erasing": ERASING_ATTR},
        }
    }


def record_inbound(account_id: str, recipient_id: str, *, at: int, channel: str) -> bool:
    """One more unread message from the recipient (made at `at`, epoch seconds); its activity moves only forward
    (carriers deliver out of order). False when the recipient is gone or being erased."""
    pk = account_pk(account_id)
    key = table.key(pk, conversation_sk(recipient_id))
    newest = {
        "Update": {
            "Key": key,
            "UpdateExpression": "SET recipient_id = :rid, last_message_at = :at, last_direction = :dir, "
            "last_channel = :ch, gsi1pk = :gpk, gsi1sk = :gsk ADD unread_count :one",
            "ConditionExpression": "attribute_not_exists(last_message_at) OR last_message_at <= :at",
            "ExpressionAttributeValues": table.values(
                {
                    ":rid": recipient_id,
                    ":at": at,
                    ":dir": "inbound",
                    ":ch": channel,
                    ":gpk": by_activity_pk(account_id),
                    ":gsk": activity_sk(at, recipient_id),
                    ":one": 1,
                }
            ),
        }
    }
    if table.transact([newest, _live_recipient(pk, recipient_id)]):
        return True
    older = {
        "Update": {
            "Key": key,
            "UpdateExpression": "ADD unread_count :one",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": table.values({":one": 1}),
        }
    }
    return table.transact([older, _live_recipient(pk, recipient_id)])


def record_outbound(account_id: str, recipient_id: str, *, at: int, channel: str) -> bool:
    """We sent the recipient a message: the conversation's activity moves (its unread count stays); False when
    there is no conversation (the person never wrote, or was erased) or a later message moved it already."""
    updated = table.update(
        account_pk(account_id),
        conversation_sk(recipient_id),
        expression="SET last_message_at = :at, last_direction = :dir, last_channel = :ch, gsi1sk = :gsk",
        condition="attribute_exists(pk) AND last_message_at <= :at",
        vals={":at": at, ":dir": "outbound", ":ch": channel, ":gsk": activity_sk(at, recipient_id)},
        returns="NONE",
    )
    return updated is not None


def mark_read(account_id: str, recipient_id: str, *, at: int) -> bool:
    """Nothing of the recipient's is unread now; False when there is no conversation."""
    updated = table.update(
        account_pk(account_id),
        conversation_sk(recipient_id),
        expression="SET unread_count = :zero, last_read_at = :at",
        condition="attribute_exists(pk)",
        vals={":zero": 0, ":at": at},
        returns="NONE",
    )
    return updated is not None


def get(account_id: str, recipient_id: str) -> Conversation | None:
    """A recipient's conversation, or None."""
    item = table.get(account_pk(account_id), conversation_sk(recipient_id))
    return None if item is None else Conversation.from_item(item)


def page(account_id: str, *, limit: int, cursor: str | None) -> tuple[list[Conversation], str | None]:
    """One page of the account's conversations, newest activity first (one Query on gsi1)."""
    items, more = table.query_page(
        pk_value=by_activity_pk(account_id), index="gsi1", limit=limit, cursor=cursor, forward=False
    )
    return [Conversation.from_item(i) for i in items], more


def idle_since(account_id: str, cutoff_s: int, *, limit: int = 100) -> list[str]:
    """Recipient ids of conversations with no activity since `cutoff_s` (epoch seconds), oldest first."""
    items, _ = table.query_page(
        pk_value=by_activity_pk(account_id),
        index="gsi1",
        limit=limit,
        sk_between=("0", f"{cutoff_s - 1:012d}~"),
    )
    return [str(i["recipient_id"]) for i in items]


def delete(account_id: str, recipient_id: str) -> None:
    """Remove a recipient's conversation (erasure)."""
    table.delete(account_pk(account_id), conversation_sk(recipient_id))


def delete_idle(account_id: str, recipient_id: str, cutoff_s: int) -> bool:
    """Remove a conversation only if it is still idle since `cutoff_s` (retention: a message may have just come)."""
    return table.delete_if(
        account_pk(account_id),
        conversation_sk(recipient_id),
        condition="last_message_at < :cutoff",
        vals={":cutoff": cutoff_s},
    )
