"""Handlers import without the X-Ray SDK; the lazy tracer traces on first call and keeps signatures intact."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard import catalog
from switchboard.observability import LazyTracer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("function", catalog.FUNCTIONS, ids=lambda f: f.name)
def test_handler_import_does_not_load_the_xray_sdk(function: catalog.Function) -> None:
    code = f"import sys, functions.{function.code}.handler; print('aws_xray_sdk' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers/shared/python'}"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.enable_socket  # the X-Ray SDK creates its UDP emitter socket when loaded; nothing is sent
def test_lazy_tracer_runs_the_function_and_keeps_its_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = LazyTracer()

    @tracer.capture_method
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert tracer._tracer is None
    assert add(1) == 3
    assert add(1, b=5) == 6
    assert tracer._tracer is not None
    assert list(inspect.signature(add).parameters) == ["a", "b"]
    assert inspect.signature(add).return_annotation in (int, "int")
