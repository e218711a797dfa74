"""The browser tests' local stack (one, of their own) and one headless Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chrome import Console, chrome, reset_artifacts
from tests.e2e.conftest import E2E_ENV, LocalStack, port_is_free, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack for the browser tests only, stopped with Ctrl-C at the end (it must exit 0)."""
    reset_artifacts()
    with running_stack(tmp_path_factory.mktemp("browser-stack"), env=E2E_ENV) as running:
        yield running
    assert port_is_free(running.port)


@pytest.fixture(scope="module")
def console(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One Chromium per module (a start costs seconds); tests that need a clean browser call `fresh()`."""
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield Console(driver, stack.base_url)
    finally:
        driver.quit()
