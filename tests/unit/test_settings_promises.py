"""Each function's settings are checked against its catalog entry at cold start: what the stacks give it suffices,
and an environment lacking any promised variable fails with one message naming the function and what it lacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import StageConfig
from local import lambdas, provision
from switchboard import catalog, settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ("dev", "prod")


def _local(stage: str) -> dict[str, dict[str, str]]:
    """The local stack's environments (local/provision.py, via infra.environment as CDK sets them)."""
    names = provision.LocalNames(
        tables={t.id: provision.table_name(t) for t in catalog.TABLES},
        queues={q.id: f"http://127.0.0.1:5000/123456789012/{provision.queue_name(q)}" for q in catalog.QUEUES},
        secrets={s.id: provision.secret_name(s) for s in catalog.secrets_for(stage)},
        key_id="local-key-id",
        mac_key_id="local-mac-key-id",
        bucket="local-anchors",
        receipt_key_id="local-receipt-key-id",
    )
    return provision.environments(names, provision.stage_values(stage, "http://127.0.0.1:8080"))


LOCAL = _local(provision.STAGE)
CASES = [
    (name, variable)
    for name, env in LOCAL.items()
    for variable in env
    if variable in {v.name for v in catalog.in_stage(catalog.function(name), provision.STAGE).variables}
]


def test_every_function_promises_its_tables_queues_secrets_and_keys() -> None:
    for spec in catalog.FUNCTIONS:
        promised = {v.name for v in spec.variables}
        assert {catalog.table(t).env for t in spec.tables} <= promised, spec.name
        assert {catalog.queue(q).env for q in spec.queues} <= promised, spec.name
        assert {catalog.secret(s).env for s in spec.secrets} <= promised, spec.name
        assert ("DATA_KEY_ID" in promised) is spec.uses_data_key, spec.name
        assert ("AUDIT_MAC_KEY_ID" in promised) is spec.uses_audit_mac, spec.name
        assert ("AUDIT_ANCHOR_BUCKET" in promised) is (spec.audit_anchors is not None), spec.name
        assert ("MAIL_FROM" in promised) is spec.sends_email, spec.name
        signs_or_publishes = spec.signs_deletion_receipts or spec.publishes_receipt_key
        assert ("RECEIPT_KEY_ID" in promised) is signs_or_publishes, spec.name
        assert {"PUBLIC_BASE_URL", "SECURITY_CONTACT", "SECURITY_POLICY_URL"} <= promised, spec.name
    assert len(CASES) > 100


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_the_local_stacks_environment_satisfies_every_function(name: str) -> None:
    loaded = settings.load(LOCAL[name])
    assert loaded.service == name
    assert settings.missing(LOCAL[name]) == ()


@pytest.mark.parametrize("stage", DEPLOYED)
def test_a_deployed_stages_environment_satisfies_every_function(stage: str) -> None:
    # The values stand in for CloudFormation tokens; infra/tests/infra/test_stage_environment.py checks the template.
    environments = _local(stage)
    config = StageConfig.from_cdk_json(stage)
    assert {spec.name for spec in catalog.for_stage(stage)} == set(environments)
    for name, environment in environments.items():
        assert settings.load(environment).stage == config.name, name


@pytest.mark.parametrize(("name", "variable"), CASES)
def test_a_missing_promised_variable_fails_with_one_clear_message(name: str, variable: str) -> None:
    lacking = {k: v for k, v in LOCAL[name].items() if k != variable}
    with pytest.raises(settings.MissingSettings) as raised:
        settings.load(lacking)
    message = str(raised.value)
    assert message.startswith(f"function {name} cannot start: its environment lacks {variable}, which")
    assert settings.missing(lacking) == (variable,)
    # Empty is as missing as absent (CDK never sets an empty value; a blank one is a mistake).
    with pytest.raises(settings.MissingSettings, match=f"lacks {variable},"):
        settings.load({**lacking, variable: ""})


def test_every_missing_variable_is_named_in_the_one_message() -> None:
    environment = LOCAL["mail_worker"]
    kept = {"STAGE", "POWERTOOLS_SERVICE_NAME", "ACCOUNTS_TABLE"}
    with pytest.raises(settings.MissingSettings) as raised:
        settings.load({k: v for k, v in environment.items() if k in kept})
    lacking = [v.name for v in catalog.function("mail_worker").variables if v.name not in kept]
    assert str(raised.value).startswith(
        f"function mail_worker cannot start: its environment lacks {', '.join(lacking)},"
    )


def test_an_environment_that_names_no_catalog_function_is_not_checked() -> None:
    # Local tooling and the bench run under their own service names; only a catalog function's environment is checked.
    for service in ("switchboard", "bench", ""):
        assert settings.missing({"STAGE": "local", "POWERTOOLS_SERVICE_NAME": service}) == ()
        assert settings.load({"STAGE": "local", "POWERTOOLS_SERVICE_NAME": service}).tables == {}


def _import(code: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import functions/<code>/handler.py in a fresh interpreter whose whole environment is `environment`."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        [sys.executable, "-c", f"import functions.{code}.handler"],
        cwd=ROOT,
        env={
            **keep,
            **environment,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers/shared/python'}",
            "AWS_DEFAULT_REGION": provision.REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("code", sorted({spec.code for spec in catalog.FUNCTIONS if spec.variables}))
def test_a_handler_lacking_a_promised_variable_fails_its_first_import(code: str) -> None:
    spec = next(spec for spec in catalog.FUNCTIONS if spec.code == code)
    variable = spec.variables[-1].name
    result = _import(code, {k: v for k, v in LOCAL[spec.name].items() if k != variable})
    assert result.returncode != 0
    expected = f"MissingSettings: function {spec.name} cannot start: its environment lacks {variable},"
    assert result.stderr.strip().splitlines()[-1].startswith(f"switchboard.settings.{expected}"), result.stderr


def test_a_handler_without_a_stage_fails_its_first_import() -> None:
    spec = catalog.function("edge_drift_job")
    result = _import(spec.code, {k: v for k, v in LOCAL[spec.name].items() if k != "STAGE"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("switchboard.settings.UnknownStage: STAGE is missing")


def test_a_handler_with_its_whole_environment_imports() -> None:
    result = _import("mail_worker", LOCAL["mail_worker"])
    assert result.returncode == 0, result.stderr


def test_a_variable_no_entry_promises_is_refused_by_name_at_use() -> None:
    # public_api's entry grants only the Platform table: anything else is code reaching past its grants.
    loaded = settings.load(LOCAL["public_api"])
    assert loaded.table("PLATFORM_TABLE") == LOCAL["public_api"]["PLATFORM_TABLE"]
    uses = (
        (loaded.table, "ACCOUNTS_TABLE"),
        (loaded.queue, "MAIL_QUEUE_URL"),
        (loaded.secret, "PEPPERS_SECRET"),
        (loaded.key, "DATA_KEY_ID"),
        (loaded.key, "AUDIT_MAC_KEY_ID"),
        (loaded.key, "AUDIT_ANCHOR_BUCKET"),
        (loaded.key, "RECEIPT_KEY_ID"),
    )
    for use, variable in uses:
        with pytest.raises(settings.NotGranted, match=rf"^{variable} is not set for this function \(public_api's"):
            use(variable)


def test_the_local_stack_refuses_to_start_a_function_lacking_a_promised_variable() -> None:
    invoker = lambdas.Invoker()
    lacking = {**LOCAL, "public_api": {k: v for k, v in LOCAL["public_api"].items() if k != "PLATFORM_TABLE"}}
    with pytest.raises(settings.MissingSettings, match=r"function public_api cannot start: .* lacks PLATFORM_TABLE,"):
        invoker.use_environments(lacking)
    invoker.use_environments(LOCAL)
    assert invoker.environment("public_api") == LOCAL["public_api"]


def test_every_resource_variable_the_code_names_is_one_the_catalog_declares() -> None:
    # Settings check what an entry promises; a name the code spells differently would only fail at use (NotGranted).
    declared = {t.env for t in catalog.TABLES} | {q.env for q in catalog.QUEUES} | {s.env for s in catalog.SECRETS}
    named: dict[str, set[str]] = {}
    for path in [*(ROOT / "layers/shared/python/switchboard").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        for name in re.findall(r"\"([A-Z][A-Z0-9_]*_(?:TABLE|QUEUE_URL|SECRET))\"", path.read_text()):
            named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert len(named) >= 8
    not_variables = {"ONE_TIME_SECRET"}  # models/one_time.py's marker's repr, not an environment variable
    assert {name: paths for name, paths in named.items() if name not in declared | not_variables} == {}
