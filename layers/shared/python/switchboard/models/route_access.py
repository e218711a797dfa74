"""Which permission each API route needs: API.md's role table applied to paths, first matching rule wins.

The handlers call `require(principal, permission)` themselves; this table states what they must enforce, and the
role x route tests hold every catalog route to it (a new route under a listed prefix joins the matrix at once).
Session-only routes are the catalog's `Auth.SESSION` routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.models.permissions import Permission


@dataclass(frozen=True)
class Rule:
    """Routes whose path is `prefix` or below it, for `method` ("*" = any), need `permission` (None = any role)."""

    method: str
    prefix: str
    permission: Permission | None


_P = Permission
RULES: tuple[Rule, ...] = (
    # The caller's own sessions and user: every role, from a session.
    Rule("*", "/v1/sessions", None),
    Rule("*", "/v1/me", None),
    Rule("*", "/v1/api-keys", _P.API_KEYS_MANAGE),
    Rule("*", "/v1/members", _P.MEMBERS_MANAGE),
    Rule("GET", "/v1/account/export", _P.ACCOUNT_MANAGE),
    Rule("*", "/v1/account/restore", _P.ACCOUNT_MANAGE),
    Rule("DELETE", "/v1/account", _P.ACCOUNT_MANAGE),
    Rule("GET", "/v1/account", _P.ACCOUNT_READ),
    Rule("*", "/v1/audit-events", _P.AUDIT_READ),
    Rule("*", "/v1/webhook-endpoints", _P.WEBHOOKS_MANAGE),
    # Whoever sends may see which templates exist; managing them is configuration.
    Rule("GET", "/v1/templates", _P.RECIPIENTS_READ),
    Rule("*", "/v1/templates", _P.TEMPLATES_MANAGE),
    Rule("GET", "/v1/recipients", _P.RECIPIENTS_READ),
    Rule("*", "/v1/recipients", _P.RECIPIENTS_WRITE),
    Rule("GET", "/v1/lists", _P.RECIPIENTS_READ),
    Rule("*", "/v1/lists", _P.RECIPIENTS_WRITE),
    Rule("GET", "/v1/messages", _P.RECIPIENTS_READ),
    Rule("*", "/v1/messages", _P.MESSAGES_SEND),
    Rule("GET", "/v1/broadcasts", _P.RECIPIENTS_READ),
    Rule("*", "/v1/broadcasts", _P.MESSAGES_SEND),
)


class Unlisted(LookupError):
    """A route no rule covers: add one before the route ships."""


def rule_for(method: str, path: str) -> Rule:
    """The first rule that covers `method` and `path` (a catalog template such as /v1/members/{user_id})."""
    for rule in RULES:
        if rule.method in {"*", method} and (path == rule.prefix or path.startswith(rule.prefix + "/")):
            return rule
    raise Unlisted(f"no permission rule covers {method} {path}")
