"""R61: data keys wrapped by KMS alone (Keyring version 1) rewrapped under their account's key-encryption key."""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel

from switchboard.crypto import envelope
from switchboard.dal import keyring


class MigrationReport(BaseModel):
    """One run: version 1 keys found, rewrapped by this run, and whether the run got through them all."""

    job: str = "kek_migration"
    found: int = 0
    rewrapped: int = 0
    complete: bool = True


def run(time_left: Callable[[], float] = lambda: math.inf) -> MigrationReport:
    """Rewrap every version 1 data key (idempotent: a rewrapped key is version 2 and no longer listed)."""
    report = MigrationReport()
    for account_id in keyring.kms_wrapped_accounts():
        if time_left() < 10:
            report.complete = False
            break
        report.found += 1
        report.rewrapped += envelope.rewrap(account_id)
    return report
