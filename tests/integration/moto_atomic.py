"""DynamoDB applies each request atomically (a condition and its write are one step); moto does not, across threads."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler


@contextmanager
def serialized_moto() -> Iterator[None]:
    """Run each moto DynamoDB request under one lock, as the real service serializes writes to an item."""
    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "call_action", call_action)
        yield
