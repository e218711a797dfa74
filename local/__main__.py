"""`python -m local` (= `make dev`): the whole platform on http://127.0.0.1:$PORT until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from types import FrameType

from local import moto_speedups, provision, recorder
from switchboard import settings


def parse_stage(argv: list[str]) -> str:
    """`--stage NAME` (default local): another known stage runs its rules here (tests of the deployed path)."""
    parser = argparse.ArgumentParser(prog="python -m local", description="the whole platform on one machine")
    parser.add_argument("--stage", default=provision.STAGE, choices=sorted(settings.STAGES))
    stage: str = parser.parse_args(argv).stage
    return stage


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM, then stop every part and exit 0."""
    stage = parse_stage(sys.argv[1:] if argv is None else argv)
    moto_speedups.install()  # before the first botocore session and moto's first key
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "werkzeug", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Before any handler module loads: Powertools reads its settings when its Logger and Metrics are created.
    os.environ.update({**provision.BASE_ENV, "STAGE": stage})
    recorder.install_from_environment()  # the test suite's permission ledger (docs/permissions.md)
    from local.operators import usage as operator_usage  # noqa: PLC0415
    from local.stack import Stack, quickstart  # noqa: PLC0415

    # Handlers that publish no metric make Powertools warn on every call; deployed, that goes nowhere either.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    port = int(os.environ.get("PORT") or 8080)
    stack = Stack(port, stage=stage)
    try:
        stack.start()
    except OSError as error:
        stack.stop()
        print(f"cannot start on port {port}: {error.strerror or error} (PORT=… picks another)", file=sys.stderr)
        return 1
    print(quickstart(stack.base_url), flush=True)
    print(operator_usage(stack.operators_file, stack.operators), flush=True)
    while not stop.wait(0.5):
        pass
    stack.stop()
    print("Switchboard stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
