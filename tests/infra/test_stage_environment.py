"""Each local function gets exactly its deployed variables, and the sandbox carriers exist in no deployed stage."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local import provision
from switchboard import catalog, settings
from tests.infra.conftest import STAGES, Assembly

SANDBOX_ENV = catalog.secret("SandboxCredentials").env


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _deployed_variables(assembly: Assembly, stage: str) -> dict[str, dict[str, Any]]:
    """Catalog function name -> its synthesized Environment.Variables."""
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    found = {}
    for spec in catalog.FUNCTIONS:
        pattern = re.compile(rf"^{_pascal(spec.name)}Function[0-9A-F]{{8}}$")
        (function,) = [f for logical_id, f in functions.items() if pattern.match(logical_id)]
        found[spec.name] = function["Properties"]["Environment"]["Variables"]
    return found


def _local_environments(stage: str) -> dict[str, dict[str, str]]:
    """What the local stack gives each function, from the same code `make dev` runs (names as moto would)."""
    names = provision.LocalNames(
        tables={spec.id: provision.table_name(spec) for spec in catalog.TABLES},
        queues={spec.id: f"http://127.0.0.1:5000/123456789012/{provision.queue_name(spec)}" for spec in catalog.QUEUES},
        secrets={spec.id: provision.secret_name(spec) for spec in catalog.secrets_for(stage)},
        key_id="local-key-id",
    )
    return provision.environments(names, provision.stage_values(stage, "http://127.0.0.1:8080"))


@pytest.mark.parametrize("stage", STAGES)
def test_local_stack_in_a_deployed_stage_gives_every_function_exactly_its_deployed_variables(
    assembly: Assembly, stage: str
) -> None:
    deployed = _deployed_variables(assembly, stage)
    local = _local_environments(stage)
    assert set(local) == set(deployed) == {spec.name for spec in catalog.FUNCTIONS}
    for name, variables in deployed.items():
        assert set(local[name]) == set(variables), name
        assert local[name]["STAGE"] == variables["STAGE"] == stage
        assert local[name]["POWERTOOLS_SERVICE_NAME"] == variables["POWERTOOLS_SERVICE_NAME"] == name


def test_local_stage_adds_only_the_sandbox_secret_to_the_deployed_variables(assembly: Assembly) -> None:
    deployed = _deployed_variables(assembly, "dev")
    local = _local_environments(provision.STAGE)
    for spec in catalog.FUNCTIONS:
        sandbox = {SANDBOX_ENV} if "SandboxCredentials" in spec.secrets else set()
        assert set(local[spec.name]) == set(deployed[spec.name]) | sandbox, spec.name
        assert local[spec.name]["STAGE"] == "local"
    assert any(SANDBOX_ENV in variables for variables in local.values())


@pytest.mark.parametrize("stage", STAGES)
def test_no_deployed_stage_has_the_sandbox_carriers_secret(assembly: Assembly, stage: str) -> None:
    secrets = assembly.resources(stage, "AWS::SecretsManager::Secret")
    assert secrets, "the stage deploys no secret at all"
    assert not [logical_id for logical_id in secrets if "Sandbox" in logical_id]
    for name, variables in _deployed_variables(assembly, stage).items():
        assert SANDBOX_ENV not in variables, name
    for which in ("data", "api"):
        assert "SandboxCredentials" not in json.dumps(assembly.template(stage, which))
    # The carrier secrets the stage does have are still granted to the functions that use them.
    assert "TWILIO_CREDENTIALS_SECRET" in _deployed_variables(assembly, stage)["sms_send_worker"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_starts_with_exactly_the_environment_its_template_gives_it(
    assembly: Assembly, stage: str
) -> None:
    for name, variables in _deployed_variables(assembly, stage).items():
        # CloudFormation resolves tokens ({"Ref": ...}, {"Fn::GetAtt": ...}) to non-empty names at deploy time.
        environment = {k: v if isinstance(v, str) else f"resolved:{json.dumps(v)}" for k, v in variables.items()}
        assert settings.load(environment).service == name
        promised = {v.name for v in catalog.in_stage(catalog.function(name), stage).variables}
        assert promised <= set(variables), name
        for variable in promised:
            with pytest.raises(settings.MissingSettings, match=f"function {name} cannot start: .*{variable}"):
                settings.load({k: v for k, v in environment.items() if k != variable})
