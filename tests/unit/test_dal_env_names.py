"""Every table, queue and bucket variable a dal module reads is one the catalog declares, and is read from it.

A name spelled again in a dal module would survive a rename in switchboard/catalog.py and fail only at first use in
the deployed function (NotGranted); derived from the catalog, it cannot go stale.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

from switchboard import catalog, dal, settings
from switchboard.dal import queues
from switchboard.dal.base import BaseItem

DAL = Path(dal.__file__).parent
# A table, queue or bucket variable, as the catalog and settings name them.
RESOURCE_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*_(TABLE|QUEUE_URL|BUCKET)")
DECLARED = frozenset(
    {t.env for t in catalog.TABLES}
    | {q.env for q in catalog.QUEUES}
    | {b.env for b in catalog.BUCKETS}
    | {catalog.AUDIT_ANCHOR_BUCKET_ENV}
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"switchboard.dal.{m.name}") for m in pkgutil.iter_modules([str(DAL)])]


def _variables_read(module: ModuleType) -> set[str]:
    """The module's `*_ENV` constants and the TABLE_ENV of its PynamoDB models."""
    names = {v for k, v in vars(module).items() if k.endswith("_ENV") and isinstance(v, str)}
    models = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BaseItem) and v is not BaseItem]
    return names | {m.TABLE_ENV for m in models if m.__module__ == module.__name__}


def test_every_variable_a_dal_module_reads_is_declared_by_the_catalog() -> None:
    read = {name for module in _modules() for name in _variables_read(module)}
    assert read, "the dal declares no variables: the scan found nothing"
    assert {"ACCOUNTS_TABLE", "SESSIONS_TABLE", "LIMITS_TABLE", "MESSAGING_TABLE"} <= read
    assert read <= DECLARED, sorted(read - DECLARED)


@pytest.mark.parametrize("path", sorted(DAL.glob("*.py")), ids=lambda p: p.name)
def test_no_dal_module_spells_a_resource_variable(path: Path) -> None:
    spelled = [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RESOURCE_VARIABLE.fullmatch(node.value)
    ]
    assert spelled == [], f"{path.name} spells a variable name the catalog declares: read it from switchboard.catalog"


def test_every_queue_the_dal_sends_to_reads_its_catalog_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*catalog.CHANNELS, queues.CALLBACKS):
        spec = queues.spec(name)
        assert spec in catalog.QUEUES
        monkeypatch.setenv(spec.env, f"https://sqs.example/{spec.id}")
    settings.reload()
    try:
        assert queues._url(queues.CALLBACKS) == "https://sqs.example/Callbacks"
        assert queues._url("sms") == "https://sqs.example/SmsSend"
    finally:
        monkeypatch.undo()
        settings.reload()
