"""Builds one stage (data + API stacks) into an app and registers the cdk-nag packs; app.py and tests use it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra import nag
from infra.config import StageConfig
from infra.stacks.api_stack import ApiStack
from infra.stacks.data_stack import DataStack


@dataclass(frozen=True)
class StageStacks:
    """The two stacks of one stage."""

    data: DataStack
    api: ApiStack


def stack_names(stage: str) -> tuple[str, str]:
    """The CloudFormation stack names of a stage (data, API)."""
    return f"Switchboard-{stage}-Data", f"Switchboard-{stage}-Api"


def add_stage(app: App, config: StageConfig) -> StageStacks:
    """Instantiate the stage's stacks in its own account and Region, with every cdk-nag acknowledgement."""
    env = Environment(account=config.account, region=config.region)
    data_name, api_name = stack_names(config.name)
    data = DataStack(app, data_name, config=config, api_role_prefix=f"{api_name}-", env=env)
    api = ApiStack(app, api_name, config=config, data=data, env=env)
    nag.acknowledge_all(data, api)
    return StageStacks(data=data, api=api)


def add_checks(app: App) -> None:
    """cdk-nag AwsSolutions + Serverless on every stack: any unacknowledged finding fails synthesis."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
