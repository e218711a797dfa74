"""CDK entry point: reads the stage (`-c stage=`, default dev) and cdk.json's stages, then synthesizes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.config import StageConfig, StageError
from infra.stages import add_checks, add_stage

ROOT = Path(__file__).resolve().parent


def cli_context(argv: list[str]) -> dict[str, str]:
    """`-c key=value` / `--context key=value` pairs of a direct `python app.py` run."""
    context: dict[str, str] = {}
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


def direct_context(argv: list[str]) -> dict[str, Any]:
    """Without the CDK CLI: cdk.json's context, overridden by the command line's `-c` pairs."""
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context.update(cli_context(argv))
    return context


def make_app(argv: list[str]) -> App:
    """Under the CDK CLI (it sets CDK_OUTDIR) App reads the context itself, from CDK_CONTEXT_JSON or the CLI's
    overflow file; run directly, App gets cdk.json's context and writes to ./cdk.out."""
    if "CDK_OUTDIR" in os.environ:
        return App()
    return App(context=direct_context(argv), outdir=str(ROOT / "cdk.out"))


def stage_config(app: App) -> StageConfig:
    """The StageConfig of the chosen stage: the only place that reads context."""
    stage = str(app.node.try_get_context("stage") or "dev")
    stages = app.node.try_get_context("stages")
    if not isinstance(stages, dict):
        raise SystemExit("cdk.json has no `stages` context")
    try:
        return StageConfig.from_context(stage, stages)
    except StageError as error:
        raise SystemExit(f"cannot synthesize: {error}") from None


def main(argv: list[str]) -> None:
    """Build the chosen stage and synthesize it (fails on any unacknowledged cdk-nag finding)."""
    app = make_app(argv)
    add_stage(app, stage_config(app))
    add_checks(app)
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1:])
