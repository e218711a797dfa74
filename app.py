"""CDK entry point: reads the stage (`-c stage=`, default dev) and cdk.json's stages, then synthesizes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.config import StageConfig
from infra.stages import add_checks, add_stage

ROOT = Path(__file__).resolve().parent


def _cli_context(argv: list[str]) -> dict[str, Any]:
    """`-c key=value` / `--context key=value` pairs when run as `python app.py` (the CDK CLI passes JSON)."""
    context: dict[str, Any] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith(("-c=", "--context=")):
            pair = arg.split("=", 1)[1]
        else:
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"context must be key=value, got {pair!r}")
        context[key] = value
    return context


def load_context(argv: list[str]) -> dict[str, Any]:
    """The context: the CDK CLI's (CDK_CONTEXT_JSON) or, run directly, cdk.json's plus the command line's."""
    if "CDK_CONTEXT_JSON" in os.environ:
        return dict(json.loads(os.environ["CDK_CONTEXT_JSON"]))
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context.update(_cli_context(argv))
    return context


def main(argv: list[str]) -> None:
    """Build the chosen stage and synthesize it into cdk.out/ (fails on any unacknowledged cdk-nag finding)."""
    context = load_context(argv)
    config = StageConfig.from_context(str(context.get("stage", "dev")), context["stages"])
    # Run directly, App would see neither the context nor an output directory: hand both over (the CLI sets
    # CDK_CONTEXT_JSON and CDK_OUTDIR itself).
    if "CDK_CONTEXT_JSON" in os.environ:
        app = App()
    else:
        app = App(context=context, outdir=os.environ.get("CDK_OUTDIR", str(ROOT / "cdk.out")))
    add_stage(app, config)
    add_checks(app)
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1:])
