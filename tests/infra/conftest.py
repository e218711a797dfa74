"""Synthesizes both stages once per test session (jsii is slow): every template test reads this assembly."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from infra import build_layers
from infra.config import StageConfig, bootstrap_stack_name, stack_names
from infra.stages import add_checks, add_stage
from switchboard import catalog

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")


@dataclass(frozen=True)
class Assembly:
    """The synthesized cloud assembly of both stages."""

    outdir: Path
    configs: dict[str, StageConfig]
    templates: dict[str, dict[str, Any]]  # stack name -> template (MERGED_NESTED merged in, SSM resolved)
    manifest: dict[str, Any]
    raw: dict[str, dict[str, Any]]  # stack name -> template (MERGED_NESTED merged in, SSM unresolved)

    def template(self, stage: str, which: str) -> dict[str, Any]:
        """The `bootstrap`, `data` or `api` template of a stage."""
        if which == "bootstrap":
            return self.templates[bootstrap_stack_name(stage)]
        data, api = stack_names(stage)
        return self.templates[data if which == "data" else api]

    def raw_template(self, stage: str, which: str) -> dict[str, Any]:
        """A template as synthesized (with its MERGED_NESTED stacks merged in), its SSM parameter references
        unresolved (`templates` resolves them)."""
        name = next(n for n, t in self.templates.items() if t is self.template(stage, which))
        return copy.deepcopy(self.raw[name])

    def rest_api_id(self, stage: str, *, links: bool = False, serves: catalog.Api | None = None) -> str:
        """Logical id of the customer API's RestApi (`links`: the media links' own, tests/infra/test_links_api.py;
        `serves`: the RestApi serving that part of the domain)."""
        serves = serves or (catalog.Api.LINKS if links else catalog.Api.CUSTOMER)
        suffix = {catalog.Api.LINKS: "-media", catalog.Api.CONSOLE: "-console"}.get(serves, "")
        name = f"switchboard-{stage}{suffix}"
        apis = self.resources(stage, "AWS::ApiGateway::RestApi")
        (found,) = [i for i, api in apis.items() if api["Properties"]["Name"] == name]
        return found

    def api_of(self, stage: str, path: str) -> str:
        """Logical id of the RestApi that serves this catalog route path."""
        return self.rest_api_id(stage, serves=catalog.api_of(path))

    def resources(self, stage: str, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource of one type, across both stacks of the stage."""
        found: dict[str, dict[str, Any]] = {}
        for which in ("data", "api"):
            for logical_id, resource in self.template(stage, which)["Resources"].items():
                if resource["Type"] == resource_type:
                    found[logical_id] = resource
        return found


def _synthesize(outdir: Path, context: dict[str, Any], configs: dict[str, StageConfig]) -> None:
    app = App(context=context, outdir=str(outdir))
    for config in configs.values():
        add_stage(app, config)
    add_checks(app)
    # Raises on any unacknowledged cdk-nag finding (error or warning): then every test of this session errors.
    app.synth()


def _synthesized_once(
    tmp_path_factory: pytest.TempPathFactory, context: dict[str, Any], configs: dict[str, StageConfig]
) -> Path:
    """The assembly's directory, synthesized once per test run: xdist workers share it (jsii takes ~25 s)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        outdir = tmp_path_factory.mktemp("cdk.out")
        _synthesize(outdir, context, configs)
        return outdir
    # The workers' base temp directories share a parent of this run only: the first worker to get here synthesizes
    # into it under a lock, the others wait and read the same files (one source tree, one synthesis). A failed
    # synthesis leaves no mark, so each worker tries, and fails, on its own.
    run = tmp_path_factory.getbasetemp().parent
    outdir, done = run / "cdk.out", run / "cdk.out.done"
    with (run / "cdk.out.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(outdir, ignore_errors=True)
            outdir.mkdir()
            _synthesize(outdir, context, configs)
            done.touch()
    return outdir


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assembly]:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    build_layers.build()  # cached on the lock's hash: instant after `make layers`
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    configs = {stage: StageConfig.from_context(stage, context["stages"]) for stage in STAGES}
    outdir = _synthesized_once(tmp_path_factory, context, configs)
    manifest = json.loads((outdir / "manifest.json").read_text())
    templates = {
        name: json.loads((outdir / f"{name}.template.json").read_text())
        for stage in STAGES
        for name in (*stack_names(stage), bootstrap_stack_name(stage))
    }
    for stage in STAGES:
        api_name = stack_names(stage)[1]
        merge_nested(templates[api_name], nested_templates(outdir, templates[api_name], api_name))
    raw = copy.deepcopy(templates)
    for stage in STAGES:
        resolve_ssm([templates[name] for name in (*stack_names(stage), bootstrap_stack_name(stage))])
    yield Assembly(outdir=outdir, configs=configs, templates=templates, manifest=manifest, raw=raw)


# Nested stacks of the API stack whose resources the template tests read as the API stack's own: they are split off
# only to keep the API stack under CloudFormation's 500 resources. The operator API (`Ops`) is tested as its own.
MERGED_NESTED = ("Monitoring", "Customer")
NESTED_STACK = "AWS::CloudFormation::Stack"


def nested_templates(outdir: Path, parent: dict[str, Any], parent_name: str) -> dict[str, dict[str, Any]]:
    """Logical id in the parent -> template, of every nested stack of the parent (the assets CDK wrote beside it)."""
    assets = json.loads((outdir / f"{parent_name}.assets.json").read_text())["files"]
    found = {}
    for logical_id, resource in parent["Resources"].items():
        if resource["Type"] != NESTED_STACK:
            continue
        object_key = resource["Properties"]["TemplateURL"]["Fn::Join"][1][-1].rpartition("/")[2]
        asset = next(a for h, a in assets.items() if object_key == f"{h}.json")
        found[logical_id] = json.loads((outdir / asset["source"]["path"]).read_text())
    return found


def merge_nested(
    parent: dict[str, Any], nested: dict[str, dict[str, Any]], merged: tuple[str, ...] = MERGED_NESTED
) -> None:
    """Move the resources of each `merged` nested stack (by logical id prefix) into its parent's template as
    CloudFormation wires them at deploy time: each nested parameter becomes the value the parent passes, and each
    `Fn::GetAtt` of a nested output (in the parent, another nested stack's parameters, or resources merged before)
    becomes that output's value, so the order of merging does not matter."""
    for logical_id in [k for k in list(parent["Resources"]) if k in nested and k.startswith(merged)]:
        passed = parent["Resources"][logical_id]["Properties"].get("Parameters", {})

        def substitute(value: Any, passed: dict[str, Any] = passed) -> Any:
            if isinstance(value, dict):
                if set(value) == {"Ref"} and value["Ref"] in passed:
                    return passed[value["Ref"]]
                return {key: substitute(child) for key, child in value.items()}
            if isinstance(value, list):
                return [substitute(child) for child in value]
            return value

        template = nested[logical_id]
        resources = substitute(template["Resources"])
        outputs = {f"Outputs.{name}": substitute(o["Value"]) for name, o in template.get("Outputs", {}).items()}
        clash = set(resources) & set(parent["Resources"])
        assert not clash, f"{logical_id}: logical ids in both templates: {clash}"
        del parent["Resources"][logical_id]
        parent["Resources"].update(resources)

        def outputs_of(value: Any, outputs: dict[str, Any] = outputs, nested_id: str = logical_id) -> Any:
            if isinstance(value, dict):
                if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] == nested_id:
                    return outputs[value["Fn::GetAtt"][1]]
                return {key: outputs_of(child) for key, child in value.items()}
            if isinstance(value, list):
                return [outputs_of(child) for child in value]
            return value

        parent["Resources"] = outputs_of(parent["Resources"])
        parent["Outputs"] = outputs_of(parent.get("Outputs", {}))
    leftover = [k for k, r in parent["Resources"].items() if r["Type"] == NESTED_STACK and k.startswith(merged)]
    assert not leftover, f"nested stacks without a template: {leftover}"


def resolve_ssm(templates: list[dict[str, Any]]) -> None:
    """Replace each reference to an SSM-typed template parameter by the value another stack of the stage publishes
    under that name, as CloudFormation resolves it at deploy time: the tests see `{"Ref": <table>}` where the API
    stack has `{"Ref": "SsmParameterValue…"}` (the stacks share no exports: infra/constructs/data_refs.py)."""
    published = {
        resource["Properties"]["Name"]: resource["Properties"]["Value"]
        for template in templates
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SSM::Parameter"
    }

    def substitute(value: Any, parameters: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in parameters:
                return parameters[value["Ref"]]
            return {key: substitute(child, parameters) for key, child in value.items()}
        if isinstance(value, list):
            return [substitute(child, parameters) for child in value]
        return value

    for template in templates:
        parameters = {
            name: published[parameter["Default"]]
            for name, parameter in template.get("Parameters", {}).items()
            if parameter["Type"] == "AWS::SSM::Parameter::Value<String>" and parameter["Default"] in published
        }
        template["Resources"] = substitute(template["Resources"], parameters)


def resource_paths(resources: dict[str, Any]) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path."""
    found: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in found:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""  # GetAtt RootResourceId: the root
            found[logical_id] = f"{prefix}/{props['PathPart']}"
        return found[logical_id]

    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::ApiGateway::Resource":
            path_of(logical_id)
    return found
