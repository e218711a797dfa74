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


def test_the_cdk_json_app_command_synthesizes_from_a_clean_environment(tmp_path: Path) -> None:
    # What the CDK CLI does: run cdk.json's `app` through a shell in the project directory with CDK_OUTDIR and
    # the merged context in CDK_CONTEXT_JSON. The PATH has neither the venv nor a `python` command.
    cdk_json = json.loads((app.ROOT / "cdk.json").read_text())
    clean_path = "/usr/bin:/bin"
    assert subprocess.run(["sh", "-c", "command -v python"], env={"PATH": clean_path}, check=False).returncode
    env = {
        "PATH": clean_path,
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CDK_OUTDIR": str(tmp_path),
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json["context"], "stage": "dev"}),
    }
    result = subprocess.run(
        ["sh", "-c", cdk_json["app"]], cwd=app.ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = {
        name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {"Switchboard-dev-Bootstrap", "Switchboard-dev-Data", "Switchboard-dev-Api"}
    template = json.loads((tmp_path / "Switchboard-dev-Api.template.json").read_text())
    assert any(r["Type"] == "AWS::Lambda::Function" for r in template["Resources"].values())


def test_local_is_refused_as_a_deployable_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    with pytest.raises(SystemExit, match=r"'local' is the local stack's stage .* never deployed"):
        app.stage_config(app.make_app(["-c", "stage=local"]))
    # Nor can cdk.json smuggle it in as a configured stage.
    stages = json.loads((app.ROOT / "cdk.json").read_text())["context"]["stages"]
    with pytest.raises(StageError, match="never deployed"):
        StageConfig.from_context("dev", {**stages, "local": stages["dev"]})
