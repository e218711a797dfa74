"""app.py reads the stage from the CDK CLI's context or, run directly, from cdk.json plus `-c` arguments."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import app
from infra.config import StageConfig, StageError


def test_app_direct_run_reads_cdk_json_and_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    assert app.stage_config(app.make_app(["-c", "stage=prod"])).name == "prod"
    assert app.stage_config(app.make_app(["--context=stage=prod"])).retain_data is True
    default = app.stage_config(app.make_app([]))
    assert default.name == "dev"
    assert default.retain_data is False


def test_app_under_the_cli_takes_context_from_the_environment(tmp_path: Path) -> None:
    # A fresh interpreter: jsii's node process reads CDK_CONTEXT_JSON when it starts, as under the real CLI.
    stages = json.loads((app.ROOT / "cdk.json").read_text())["context"]["stages"]
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "CDK_CONTEXT_JSON": json.dumps({"stage": "prod", "stages": stages}),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    code = "import app; print(app.stage_config(app.make_app(['-c', 'stage=dev'])).account)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=app.ROOT, env=env, capture_output=True, text=True, check=True
    )
    # The CLI's context wins over argv: the CLI already merged `-c` into it.
    assert result.stdout.strip().splitlines()[-1] == stages["prod"]["account"]


def test_app_rejects_malformed_context_and_unknown_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    with pytest.raises(SystemExit):
        app.cli_context(["-c", "stage"])
    with pytest.raises(SystemExit, match="unknown stage 'staging'"):
        app.stage_config(app.make_app(["-c", "stage=staging"]))


def test_local_is_refused_as_a_deployable_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    with pytest.raises(SystemExit, match=r"'local' is the local stack's stage .* never deployed"):
        app.stage_config(app.make_app(["-c", "stage=local"]))
    # Nor can cdk.json smuggle it in as a configured stage.
    stages = json.loads((app.ROOT / "cdk.json").read_text())["context"]["stages"]
    with pytest.raises(StageError, match="never deployed"):
        StageConfig.from_context("dev", {**stages, "local": stages["dev"]})
