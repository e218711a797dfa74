"""Property: audit verification detects any single change, deletion (including of the newest events), insertion
or re-chaining of an anchored trail, whoever makes it (a table writer, the attacker's own key, a writer's role
with the real key), and accepts the untouched trail.

Each example is a fresh account in one moto world: n events, the anchor job after all of them, one attack.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.logic import audit
from tests.security import audit_attacks as attack

_accounts = count()
FIELDS = ("actor", "type", "outcome", "at", "source_ip", "user_agent", "request_id", "account_id", "id")


@st.composite
def attacks(draw: st.DrawFn) -> tuple[int, str, Callable[[str], None]]:
    """(trail length, what the attack does, the attack on an account)."""
    n = draw(st.integers(min_value=1, max_value=6))
    seq = draw(st.integers(min_value=1, max_value=n))
    kind = draw(st.sampled_from(("change", "delete", "delete_newest", "insert", "rechain_own_key", "rechain_real_key")))
    if kind == "change":
        field = draw(st.sampled_from(FIELDS))
        value = draw(st.text(min_size=0, max_size=8))
        return n, f"{kind} {field} of {seq}", lambda acct: _change(acct, seq, field, value)
    if kind == "delete":
        return n, f"delete {seq}", lambda acct: attack.delete(seq, acct)
    if kind == "delete_newest":
        return n, f"delete the {n - seq + 1} newest", lambda acct: [attack.delete(s, acct) for s in range(seq, n + 1)]
    if kind == "insert":
        real = draw(st.booleans())
        return n, f"insert at {seq}", lambda acct: _insert(acct, seq, real)
    own = kind == "rechain_own_key"
    return (
        n,
        f"{kind} from {seq}",
        lambda acct: attack.rechain(seq, key_id=attack.attacker_key() if own else None, account_id=acct),
    )


def _change(account_id: str, seq: int, field: str, value: str) -> None:
    raw = attack.item(seq, account_id)
    if raw.get(field, {}).get("S") == value:
        value += "x"  # a change, never a rewrite of the same value
    attack.change(seq, field, value, account_id=account_id)


def _insert(account_id: str, seq: int, real_key: bool) -> None:
    if real_key:
        attack.insert(seq, key_id=None, account_id=account_id)
    else:
        raw = attack.item(seq, account_id)
        forged = {**raw, "id": {"S": "evt_forged"}, "seq": {"N": str(seq)}}
        attack.put(forged)  # overwrites event `seq` with a forged copy (hash and MAC of the original)


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=attacks())
def test_any_single_tampering_of_an_anchored_trail_is_detected(
    aws: dict[str, str], case: tuple[int, str, Callable[[str], None]]
) -> None:
    n, what, tamper = case
    account_id = f"acct_prop{next(_accounts)}"
    attack.record(n, account_id=account_id)
    # The job's work for this account alone (other examples' accounts are tampered on purpose).
    assert audit.anchor_account(account_id).anchored_seq == n
    assert audit.verify(account_id).valid
    tamper(account_id)
    result = audit.verify(account_id)
    assert not result.valid, what
