"""The deps layer: locked aarch64 wheels for the Lambda runtime, rebuilt only when the lock or target changes."""

import time

import pytest

from infra import build_layers
from infra.constructs.python_function import RUNTIME


def test_build_layers_targets_the_function_runtime() -> None:
    assert RUNTIME.name == f"python{build_layers.PYTHON_VERSION}"


def test_build_layers_second_run_is_a_cache_hit() -> None:
    build_layers.build()
    started = time.perf_counter()
    build = build_layers.build()
    assert time.perf_counter() - started < 1.0
    assert build_layers.is_current()
    site = build / "python"
    assert (site / "aws_lambda_powertools").is_dir()
    # Compiled for Lambda (CPython, Linux aarch64), never for this machine.
    extensions = [p.name for p in site.glob("pydantic_core/*.so")]
    assert extensions
    assert all("aarch64" in name for name in extensions)
    assert not (site / "bin").exists()


def test_build_layers_fingerprint_follows_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    current = build_layers.fingerprint()
    monkeypatch.setattr(build_layers, "PYTHON_VERSION", "3.13")
    assert build_layers.fingerprint() != current
    assert not build_layers.is_current()
