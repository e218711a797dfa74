"""Records every AWS call of every function while tests run and checks them against docs/permissions.md."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from local import moto_speedups, recorder
from tests import ledger

moto_speedups.install()

_DIRECTORY = pytest.StashKey[Path]()
_KEEP = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("permissions", "the permission ledger (docs/permissions.md)")
    group.addoption("--permissions-write", action="store_true", help="write docs/permissions.md from this run")
    group.addoption(
        "--permissions-complete",
        action="store_true",
        help="this run is the whole suite: a ledger row that no call used fails it as well",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        # The controller (or the only process): xdist workers and the e2e stack inherit the directory. A directory
        # named by SWITCHBOARD_CALLS_DIR is kept (the raw calls, for debugging); a temporary one is removed.
        preset = os.environ.get(recorder.ENV)
        directory = Path(preset) if preset else Path(tempfile.mkdtemp(prefix="switchboard-calls-"))
        os.environ[recorder.ENV] = str(directory)
        config.stash[_DIRECTORY] = directory
        config.stash[_KEEP] = bool(preset)
    recorder.install(Path(os.environ[recorder.ENV]))


def _fail(session: pytest.Session, lines: list[str]) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _allowed_extra(row: tuple[str, ...]) -> bool:
    """A call the ledger leaves out on purpose: a granted extra (tests/infra/permissions.py, with its reason) that
    only some runs reach (which test file shares a worker decides it), so the ledger cannot promise it either way."""
    from tests.infra.permissions import ALLOWED_EXTRAS, SQS_ACTIONS  # noqa: PLC0415 - only when a call is missing

    function, service, operation, resource = row
    # The extras name IAM actions (`dynamodb:DeleteItem`); an SQS batch call is its single-message action.
    action = f"{service}:{SQS_ACTIONS.get(operation, operation) if service == 'sqs' else operation}"
    table = resource.split("/index/")[0]
    return any(fn == function and res == table and act in ("*", action) for fn, res, act in ALLOWED_EXTRAS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or _DIRECTORY not in config.stash:
        return
    directory = config.stash[_DIRECTORY]
    recorded = recorder.read(directory)
    if not config.stash[_KEEP]:
        shutil.rmtree(directory, ignore_errors=True)
    passed = exitstatus == pytest.ExitCode.OK
    if config.getoption("--permissions-write"):
        if passed:
            # A granted extra that only some runs reach stays out, or the ledger would change from run to run.
            ledger.DOC.write_text(ledger.render({row for row in recorded if not _allowed_extra(row)}))
        else:
            _fail(session, ["docs/permissions.md was not written: the run had failures"])
        return
    committed = ledger.committed()
    missing = sorted(row for row in recorded - committed if not _allowed_extra(row))
    problems = [f"  recorded, not in the ledger: {' '.join(row)}" for row in missing]
    if passed and config.getoption("--permissions-complete"):
        problems += [f"  in the ledger, no call made it: {' '.join(row)}" for row in sorted(committed - recorded)]
    if problems:
        _fail(session, ["The AWS calls of this run differ from docs/permissions.md:", *problems, ledger.REGENERATE])
