"""Builds one stage (bootstrap, data and API stacks) into an app and registers the cdk-nag packs (app.py, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra import nag
from infra.config import StageConfig, bootstrap_stack_name, stack_names
from infra.stacks.api_stack import ApiStack
from infra.stacks.bootstrap_stack import BootstrapStack
from infra.stacks.data_stack import DataStack


@dataclass(frozen=True)
class StageStacks:
    """The three stacks of one stage."""

    bootstrap: BootstrapStack
    data: DataStack
    api: ApiStack


def add_stage(app: App, config: StageConfig) -> StageStacks:
    """Instantiate the stage's stacks in its own account and Region, with every cdk-nag acknowledgement."""
    env = Environment(account=config.account, region=config.region)
    data_name, api_name = stack_names(config.name)
    bootstrap = BootstrapStack(app, bootstrap_stack_name(config.name), config=config, env=env)
    data = DataStack(app, data_name, config=config, api_role_prefix=f"{api_name}-", env=env)
    api = ApiStack(app, api_name, config=config, data=data, env=env)
    # Order only (no export): the API stack reads the truststore's SSM parameters when it deploys.
    api.add_stack_dependency(bootstrap)
    nag.acknowledge_all(data, api)
    nag.acknowledge_bootstrap(bootstrap)
    return StageStacks(bootstrap=bootstrap, data=data, api=api)


def add_checks(app: App) -> None:
    """cdk-nag AwsSolutions + Serverless on every stack: any unacknowledged finding fails synthesis."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
