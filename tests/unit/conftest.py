"""Unit tests run with no network and on a clock that starts where the system clock is."""

from collections.abc import Iterator

import pytest
import pytest_socket

from switchboard import clock, settings


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    # Unit tests must not reach AWS or anything else: a socket here is a bug in the test or the code.
    if request.node.get_closest_marker("enable_socket") is None:
        pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _fresh_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(autouse=True)
def _local_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A missing STAGE fails closed (switchboard.settings): unit tests run as the local stack unless they choose.
    monkeypatch.setenv("STAGE", "local")
    settings.reload()
    yield
    settings.reload()
