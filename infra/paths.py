"""Where the CDK app finds function code and layers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
SHARED_LAYER_DIR = ROOT / "layers" / "shared"
DEPS_LAYER_DIR = ROOT / "layers" / "deps" / "build"
