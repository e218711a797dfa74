"""The console's pages; importing this package registers every one of them with switchboard.console.app."""

from switchboard.console.pages import (
    account,
    audit,
    auth,
    content,
    keys,
    members,
    messages,
    profile,
    recipients,
    webhooks,
)

__all__ = [
    "account",
    "audit",
    "auth",
    "content",
    "keys",
    "members",
    "messages",
    "profile",
    "recipients",
    "webhooks",
]
