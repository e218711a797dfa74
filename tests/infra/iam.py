"""A small IAM evaluator of the policy subset our templates use, as AWS documents it (same-account requests).

No maintained Python package evaluates identity, resource and key policies together with condition keys against
a request (policy_sentry writes policies, parliament lints them, iam-ape and policyuniverse expand them), so this
is the subset we use, tested on its own in tests/infra/test_iam.py:
- an explicit Deny in any applicable policy wins;
- a KMS key policy is authoritative: it allows the role by name, or it allows the account (root) and then the
  role's identity policy must allow the request too;
- any other resource: the role's identity policy allows it, or the resource policy names the role (or `*`);
- Action/NotAction with `*` and `?` wildcards (case-insensitive), Resource/NotResource with wildcards;
- conditions: String*, Arn*, Bool and Null operators, `IfExists`, `ForAnyValue:`/`ForAllValues:`, the rule that
  every operator and key of a block must hold and any one of a key's values may match, and missing keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

ContextValue = str | Sequence[str]


@dataclass(frozen=True)
class Statement:
    """One policy statement, resolved to plain strings; `origin` names where it came from."""

    origin: str
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()  # "AWS:<arn|*>" or "Service:<name>" (resource policies only)
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One authorization request: a role calls `action` on `resource` with these condition keys."""

    principal: str  # the role ARN (or a service principal's name, for resource policies only)
    action: str
    resource: str
    context: Mapping[str, ContextValue]
    label: str = ""

    @property
    def account(self) -> str:
        """The principal's account."""
        return self.principal.split(":")[4]


@dataclass(frozen=True)
class Decision:
    """The outcome of one request and the identity-policy grants (statement, action, resource) it used."""

    allowed: bool
    reason: str
    used: tuple[tuple[str, str, str], ...] = ()


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    return bool(_pattern(glob, ignore_case).match(value))


def _values(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    value = context.get(key.lower())
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _compare(base: str, expected: str, actual: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return matches(expected, actual)
    if base == "Bool":
        return actual.lower() == expected.lower()
    raise ValueError(f"condition operator {base} is outside the evaluated subset")


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def condition_holds(operator: str, key: str, expected: Sequence[str], context: Mapping[str, ContextValue]) -> bool:
    """One operator on one key, as IAM evaluates it (any expected value may match)."""
    set_operator, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    actual = _values(context, key)
    if base == "Null":
        return (actual is None) == (str(expected[0]).lower() == "true")
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if actual is None:
        return if_exists or negated

    def one(value: str) -> bool:
        hit = any(_compare(positive, str(e), value) for e in expected)
        return not hit if negated else hit

    if set_operator == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)


def conditions_hold(conditions: Mapping[str, Mapping[str, Sequence[str]]], context: Mapping[str, ContextValue]) -> bool:
    """Every operator and every key of a Condition block holds."""
    return all(
        condition_holds(operator, key, expected, context)
        for operator, keys in conditions.items()
        for key, expected in keys.items()
    )


def _action_entries(statement: Statement, action: str) -> list[str] | None:
    if statement.not_actions:
        return None if any(matches(a, action, ignore_case=True) for a in statement.not_actions) else ["!"]
    hits = [a for a in statement.actions if matches(a, action, ignore_case=True)]
    return hits or None


def _resource_entries(statement: Statement, resource: str) -> list[str] | None:
    if statement.not_resources:
        return None if any(matches(r, resource) for r in statement.not_resources) else ["!"]
    hits = [r for r in statement.resources if matches(r, resource)]
    return hits or None


def principal_match(statement: Statement, request: Request) -> str | None:
    """How a resource-policy statement names the caller: "role" (by ARN, service name or `*`), "account" (root), or
    None. A service principal (apigateway.amazonaws.com) is named only by `Service:` entries."""
    if not request.principal.startswith("arn:"):
        return "role" if f"Service:{request.principal}" in statement.principals else None
    root = {f"AWS:arn:aws:iam::{request.account}:root", f"AWS:{request.account}"}
    if any(p in ("AWS:*", f"AWS:{request.principal}") for p in statement.principals):
        return "role"
    if root & set(statement.principals):
        return "account"
    return None


def applies(statement: Statement, request: Request) -> tuple[list[str], list[str]] | None:
    """The action and resource entries of `statement` that match the request when its conditions hold."""
    actions = _action_entries(statement, request.action)
    if actions is None:
        return None
    resources = _resource_entries(statement, request.resource)
    if resources is None:
        return None
    if not conditions_hold(statement.conditions, request.context):
        return None
    return actions, resources


def evaluate(  # noqa: PLR0911 - one return per documented outcome
    request: Request,
    identity: Iterable[Statement],
    resource_policy: Iterable[Statement] | None,
    *,
    key_policy: bool = False,
) -> Decision:
    """Allow or deny one same-account request (see the module docstring for the rules)."""
    used: list[tuple[str, str, str]] = []
    identity_allows = False
    for statement in identity:
        hit = applies(statement, request)
        if hit is None:
            continue
        if statement.effect == "Deny":
            return Decision(False, f"explicit deny in {statement.origin}")
        identity_allows = True
        used += [(statement.origin, a, r) for a in hit[0] for r in hit[1]]
    resource_grant: str | None = None
    for statement in resource_policy or ():
        who = principal_match(statement, request)
        if who is None or applies(statement, request) is None:
            continue
        if statement.effect == "Deny":
            return Decision(False, f"explicit deny in {statement.origin}")
        resource_grant = "role" if "role" in (resource_grant, who) else who
    if key_policy:
        if resource_grant == "role":
            return Decision(True, "the key policy names the role", tuple(used))
        if resource_grant == "account" and identity_allows:
            return Decision(True, "the key policy delegates to IAM and the role's policy allows", tuple(used))
        if resource_grant is None:
            return Decision(False, "no key policy statement allows it")
        return Decision(False, "the key policy delegates to IAM but no identity policy of the role allows it")
    if identity_allows or resource_grant == "role":
        return Decision(True, "allowed", tuple(used))
    return Decision(False, "no identity policy of the role (nor the resource policy) allows it")


def statements(document: Mapping[str, Any], origin: str) -> list[Statement]:
    """The statements of a resolved policy document."""
    raw = document.get("Statement", [])
    return [statement(s, f"{origin}#{i}") for i, s in enumerate(raw if isinstance(raw, list) else [raw])]


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def statement(raw: Mapping[str, Any], origin: str) -> Statement:
    """One resolved statement (`Sid` names it when present)."""
    if "NotPrincipal" in raw:
        raise ValueError(f"{origin}: NotPrincipal is outside the evaluated subset")
    principals: list[str] = []
    principal = raw.get("Principal")
    if principal == "*":
        principals.append("AWS:*")
    elif isinstance(principal, Mapping):
        for kind, names in principal.items():
            principals += [f"{kind}:{name}" for name in _list(names)]
    conditions = {
        operator: {key: _list(value) for key, value in keys.items()}
        for operator, keys in (raw.get("Condition") or {}).items()
    }
    sid = raw.get("Sid")
    return Statement(
        origin=f"{origin}({sid})" if sid else origin,
        effect=str(raw["Effect"]),
        actions=_list(raw.get("Action")),
        not_actions=_list(raw.get("NotAction")),
        resources=_list(raw.get("Resource")),
        not_resources=_list(raw.get("NotResource")),
        principals=tuple(principals),
        conditions=conditions,
    )
