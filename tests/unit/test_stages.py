"""STAGE fails closed: only known stages run, `local` never deploys, and the stage switches are explicit rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import LOCAL_STAGE
from switchboard import catalog, settings
from switchboard.carriers import registry, routing, sandbox

ROOT = Path(__file__).resolve().parents[2]
DEPLOYABLE = set(json.loads((ROOT / "cdk.json").read_text())["context"]["stages"])


def test_the_code_knows_exactly_the_local_stage_and_cdk_json_stages() -> None:
    assert LOCAL_STAGE not in DEPLOYABLE
    assert set(settings.STAGES) == DEPLOYABLE | {LOCAL_STAGE}


def test_only_the_local_stage_fails_open_and_only_it_deploys_the_sandbox_secret() -> None:
    for stage in DEPLOYABLE:
        rules = settings.STAGES[stage]
        assert not (rules.sandbox_carriers or rules.test_mode or rules.trust_socket_ip or rules.loopback_webhooks)
    sandboxed = {stage for stage, rules in settings.STAGES.items() if rules.sandbox_carriers}
    assert sandboxed == catalog.secret("SandboxCredentials").stages == {LOCAL_STAGE}
    for stage in settings.STAGES:
        has_secret = "SandboxCredentials" in {s.id for s in catalog.secrets_for(stage)}
        assert has_secret is settings.STAGES[stage].sandbox_carriers
        for fn in catalog.for_stage(stage):
            assert set(fn.secrets) <= {s.id for s in catalog.secrets_for(stage)}, (stage, fn.name)


@pytest.mark.parametrize("stage", [None, "", "Local", "staging", "production"])
def test_a_missing_or_unknown_stage_refuses_at_first_use(stage: str | None) -> None:
    environment = {"PLATFORM_TABLE": "t"} if stage is None else {"STAGE": stage, "PLATFORM_TABLE": "t"}
    with pytest.raises(settings.UnknownStage, match="a function runs only in a known stage"):
        settings.from_environment(environment)


def test_the_process_stage_is_read_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGE")
    settings.reload()  # nothing is read yet: importing and reloading never fail
    with pytest.raises(settings.UnknownStage, match="STAGE is missing"):
        settings.get()
    monkeypatch.setenv("STAGE", "prod")
    settings.reload()
    assert settings.get().stage == "prod"


def test_a_scope_replaces_the_process_environment_for_its_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNTS_TABLE", "process-accounts")
    settings.reload()
    with settings.scope({"STAGE": "prod", "PLATFORM_TABLE": "platform"}) as scoped:
        assert settings.get() is scoped is settings.current_scope()
        assert (scoped.stage, scoped.tables) == ("prod", {"PLATFORM_TABLE": "platform"})
        with pytest.raises(RuntimeError, match="ACCOUNTS_TABLE is not set for this function"):
            scoped.table("ACCOUNTS_TABLE")
    assert settings.current_scope() is None
    assert settings.get().table("ACCOUNTS_TABLE") == "process-accounts"


@pytest.mark.parametrize("stage", sorted(DEPLOYABLE))
def test_deployed_stages_have_no_sandbox_carriers(stage: str) -> None:
    with settings.scope({"STAGE": stage}):
        assert not set(sandbox.NAMES) & set(registry.names())
        with pytest.raises(KeyError):
            registry.carrier("sandbox-a")
        assert routing.carriers_for("sms", "US", mode="live") == routing.ROUTES["sms"]
        with pytest.raises(RuntimeError, match="no sandbox carriers"):
            routing.carriers_for("sms", "US", mode="test")
    with settings.scope({"STAGE": LOCAL_STAGE}):
        assert set(sandbox.NAMES) <= set(registry.names())
        assert registry.carrier("sandbox-a") is registry.carrier("sandbox-a")
        assert routing.carriers_for("sms", "US", mode="live") == routing.SANDBOX
