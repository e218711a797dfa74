"""Builds Lambda's third-party dependency layer (manylinux aarch64 wheels, no Docker), cached on the lock's hash."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "runtime.lock"
BUILD = ROOT / "layers" / "deps" / "build"
STAMP = BUILD / ".stamp"
# The Lambda runtime the layer targets: keep in step with infra/constructs/python_function.py (RUNTIME).
PYTHON_VERSION = "3.14"
PLATFORM = "manylinux2014_aarch64"


def fingerprint() -> str:
    """What the layer depends on: the lock's bytes, the target Python and platform."""
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update(f"{PYTHON_VERSION}/{PLATFORM}".encode())
    return digest.hexdigest()


def is_current() -> bool:
    """True when the built layer matches the lock (the second run is instant)."""
    return STAMP.is_file() and STAMP.read_text().strip() == fingerprint()


def build() -> Path:
    """Install the locked, hash-checked runtime set into layers/deps/build/python and stamp it."""
    if is_current():
        return BUILD
    BUILD.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="deps-layer-", dir=BUILD.parent))
    try:
        # The lock is complete and hash-pinned (boto3/botocore included: Lambda's bundled copies change under us),
        # so pip resolves nothing: --no-deps with --require-hashes installs exactly that set.
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "--platform",
                PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--target",
                str(staging / "python"),
                "-r",
                str(LOCK),
            ],
            check=True,
        )
        # Console scripts are useless in a layer and their shebangs point at this machine's interpreter.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        (staging / ".stamp").write_text(fingerprint() + "\n")
        shutil.rmtree(BUILD, ignore_errors=True)
        staging.rename(BUILD)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BUILD


if __name__ == "__main__":
    started = is_current()
    build()
    print("deps layer " + ("up to date" if started else "built") + f": {BUILD.relative_to(ROOT)}")
