"""Stateless resources: the catalog functions, the API and its edge, schedules and alarms."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import StageConfig
from infra.constructs import grants
from infra.constructs.customer_api import CustomerApi
from infra.constructs.data_refs import DataRefs
from infra.constructs.edge import Firewall
from infra.constructs.job_schedule import JobSchedule
from infra.constructs.monitoring import Monitoring
from infra.constructs.ops_api import OpsApi
from infra.constructs.python_function import ARCHITECTURE, RUNTIME, PythonFunction
from infra.constructs.rest_api import STAGE_NAME
from infra.constructs.status_page import StatusPage
from infra.environment import StageValues, function_environment, mail_configuration_set_name
from infra.paths import DEPS_LAYER_DIR, FUNCTIONS_DIR, SHARED_LAYER_DIR
from infra.stacks.bootstrap_stack import truststore_parameters
from infra.stacks.data_stack import DataStack
from switchboard import catalog
from switchboard.catalog import Access

# Every function behind `live` shifts 10 % of its traffic to a new version for 5 minutes, then the rest; any of its
# rollback alarms in ALARM meanwhile sends all traffic back to the previous version (docs/alarms.md#deploys).
DEPLOYMENT = codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES


class ApiStack(Stack):
    """One house Lambda per catalog function, wired to the data stack's resources by its catalog grants."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self._config = config
        # The data stack's resources, resolved from SSM at deploy time (no export to deadlock on); DataStack's shape.
        self._data = DataRefs(self, "DataRefs", stage=config.name)
        self.add_stack_dependency(data)
        if not (DEPS_LAYER_DIR / "python").is_dir():
            raise FileNotFoundError(f"{DEPS_LAYER_DIR} is missing: run `make layers` first")
        self.layers = [
            lambda_.LayerVersion(
                self,
                "SharedLayer",
                description="switchboard shared package",
                code=lambda_.Code.from_asset(str(SHARED_LAYER_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
            ),
            lambda_.LayerVersion(
                self,
                "DepsLayer",
                description="third-party dependencies from requirements/runtime.lock",
                code=lambda_.Code.from_asset(str(DEPS_LAYER_DIR), exclude=[".stamp"]),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
            ),
        ]
        self.mail_from_address = parseaddr(config.mail_from)[1]
        # The sending domain: its DKIM records go into the Cloudflare zone (docs/runbooks.md#e-mail).
        self.mail_identity = ses.EmailIdentity(
            self, "MailIdentity", identity=ses.Identity.domain(self.mail_from_address.rpartition("@")[2])
        )
        # Every e-mail is sent with it (MAIL_CONFIGURATION_SET): it publishes the bounce and complaint rates.
        self.mail_configuration_set = ses.ConfigurationSet(
            self,
            "MailConfigurationSet",
            configuration_set_name=mail_configuration_set_name(config.name),
            reputation_metrics=True,
        )
        self.functions = {spec.name: self._function(spec) for spec in catalog.for_stage(config.name)}

        self.firewall = Firewall(
            self,
            "Firewall",
            stage_name=config.name,
            rate_limit_per_ip=config.waf_rate_limit_per_ip,
            auth_rate_limit_per_ip=config.waf_auth_rate_limit_per_ip,
            callback_rate_limit_per_ip=config.waf_callback_rate_limit_per_ip,
            logs_key=self._data.keys.logs,
            log_retention_days=config.log_retention_days,
        )
        web_acl = self.firewall.web_acl
        truststore_bucket_parameter, truststore_version_parameter = truststore_parameters(config.name)
        # The customer API and its domain: a nested template, so this stack keeps room for the catalog to grow.
        self.customer_api = CustomerApi(
            self,
            "Customer",
            config=config,
            functions={name: function.live for name, function in self.functions.items()},
            logs_key=self._data.keys.logs,
            # The bootstrap stack's truststore, resolved from SSM at deploy time (no export to deadlock on).
            truststore_bucket=ssm.StringParameter.value_for_string_parameter(self, truststore_bucket_parameter),
            truststore_version=ssm.StringParameter.value_for_string_parameter(self, truststore_version_parameter),
            web_acl_arn=web_acl.attr_arn,
        )
        # The operator API (R34): its own RestApi and MFA roles, in a nested template (docs/operators.md).
        self.ops_api = OpsApi(
            self,
            "Ops",
            stage=config.name,
            functions={name: function.live for name, function in self.functions.items()},
            logs_key=self._data.keys.logs,
            log_retention_days=config.log_retention_days,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            web_acl_arn=web_acl.attr_arn,
        )
        self.schedules = {
            spec.name: JobSchedule(
                self,
                f"{_pascal(spec.name)}Schedule",
                schedule=spec.schedule,
                function=self.functions[spec.name].function,
                key=self._data.keys.data,
                alarm_action=self._data.alarms.action,
            )
            for spec in catalog.FUNCTIONS
            if spec.schedule is not None
        }
        self.status_page = StatusPage(
            self,
            "StatusPage",
            job=self.functions[catalog.STATUS_PAGE_JOB],
            queues={q.id: (self._data.queues[q.id].queue, self._data.queues[q.id].dlq) for q in catalog.QUEUES},
            api_name=self.customer_api.rest.api.rest_api_name,
            api_stage=STAGE_NAME,
            api_domain=config.domain_name,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=config.name,
            domain_name=config.domain_name,
            canary_send=config.canary_send,
            functions=self.functions,
            api_name=self.customer_api.rest.api.rest_api_name,
            queues={spec.id: self._data.queues[spec.id].queue for spec in catalog.QUEUES},
            tables={spec.id: self._data.tables.by_id[spec.id] for spec in catalog.TABLES},
            web_acl_ref=web_acl.ref,
            key=self._data.keys.data,
            action=self._data.alarms.action,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.deployments = self._deployments()

    def _function(self, spec: catalog.Function) -> PythonFunction:
        config, data = self._config, self._data
        consumed = _consumed(spec)
        authorizer = spec.name == catalog.AUTHORIZER
        function = PythonFunction(
            self,
            _pascal(spec.name),
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR / spec.code), exclude=["__pycache__", "*.pyc"]),
            handler="handler.lambda_handler",
            service=spec.name,
            description=spec.description,
            stage=config.name,
            logs_key=data.keys.logs,
            log_retention_days=config.log_retention_days,
            memory_mb=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            layers=self.layers,
            environment=function_environment(spec, DataNames(data), StageValues.of(config)),
            # API, authorizer and queue workers deploy through `live`; scheduled jobs run $LATEST.
            alias=bool(spec.routes or authorizer or consumed),
            # A worker can never use more than its reservation: the rest of the account is the API's.
            reserved_concurrency=config.worker_concurrency * len(consumed) if consumed else None,
            provisioned_concurrency=config.authorizer_provisioned_concurrency if authorizer else 0,
        )
        self._grant(spec, function)
        return function

    def _grant(self, spec: catalog.Function, function: PythonFunction) -> None:
        """The catalog's Access values as least-privilege statements on the function's own role."""
        data = self._data
        role = function.role
        for table_id, ops in spec.tables.items():
            grants.grant_table(
                role, table=data.tables.by_id[table_id], spec=catalog.table(table_id), key=data.keys.data, ops=ops
            )
        for queue_id, access in spec.queues.items():
            if access is Access.SEND:
                grants.grant_queue_send(role, queue=data.queues[queue_id].queue, key=data.keys.data)
            elif access is not Access.CONSUME:
                raise ValueError(f"{spec.name}: queues support send or consume, not {access}")
        for queue_id in _consumed(spec):
            # A mapping without SqsEventSource's automatic grant (an unconditioned kms:Decrypt): ours is scoped.
            # It invokes `live`, at most worker_concurrency at once per channel (within the reservation).
            queue = data.queues[queue_id].queue
            function.live.add_event_source_mapping(
                f"{queue_id}Events",
                event_source_arn=queue.queue_arn,
                batch_size=spec.batch_size,
                report_batch_item_failures=True,
                max_concurrency=self._config.worker_concurrency,
            )
            grants.grant_queue_consume(role, queue=queue, key=data.keys.data)
        for secret_id, access in spec.secrets.items():
            grants.grant_secret_read(role, secret=data.secrets.by_id[secret_id], key=data.keys.data, access=access)
        if spec.uses_data_key:
            grants.grant_envelope(role, key=data.keys.envelope, creates=spec.creates_data_keys)
        if spec.uses_audit_mac:
            grants.grant_audit_mac(
                role, key=data.keys.audit_mac, generate=spec.writes_audit, verify=spec.verifies_audit
            )
        if spec.signs_deletion_receipts or spec.publishes_receipt_key:
            grants.grant_receipt_key(role, key=data.keys.receipts, sign=spec.signs_deletion_receipts)
        if spec.audit_anchors is not None:
            grants.grant_audit_anchors(
                role, bucket=data.audit_anchors.bucket, key=data.keys.data, access=spec.audit_anchors
            )
        for bucket_id, bucket_access in spec.buckets.items():
            grants.grant_bucket(
                role,
                bucket=data.buckets[bucket_id],
                spec=catalog.bucket(bucket_id),
                key=data.keys.data,
                access=bucket_access,
            )
        if spec.sends_email:
            grants.grant_send_email(
                role,
                identity_arn=self.format_arn(
                    service="ses", resource="identity", resource_name=self.mail_identity.email_identity_name
                ),
                from_address=self.mail_from_address,
                configuration_set_arn=self.format_arn(
                    service="ses",
                    resource="configuration-set",
                    resource_name=self.mail_configuration_set.configuration_set_name,
                ),
            )

    def _deployments(self) -> dict[str, codedeploy.LambdaDeploymentGroup]:
        """A CodeDeploy canary per function behind `live`, rolled back by its own alarms and the API's 5xx ratio."""
        application = codedeploy.LambdaApplication(self, "Deploys")
        role = iam.Role(
            self,
            "DeployRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description=f"Switchboard {self._config.name} CodeDeploy: shifts the live aliases",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSCodeDeployRoleForLambdaLimited")
            ],
        )
        groups = {}
        for name, function in self.functions.items():
            if function.alias is None:
                continue
            own = self.monitoring.function_alarms[name]
            groups[name] = codedeploy.LambdaDeploymentGroup(
                self,
                f"{_pascal(name)}Deploy",
                application=application,
                alias=function.alias,
                deployment_config=DEPLOYMENT,
                role=role,
                alarms=[a for a in (own.errors, own.latency, self.monitoring.alarms["5xx"]) if a is not None],
                auto_rollback=codedeploy.AutoRollbackConfig(
                    failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
                ),
            )
        return groups


def _consumed(spec: catalog.Function) -> list[str]:
    """The queues the function consumes (its event sources), sorted."""
    queues = {spec.consumes} - {None} | {q for q, a in spec.queues.items() if a is Access.CONSUME}
    return sorted(q for q in queues if q is not None)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class DataNames:
    """The data stack's resources as environment values (tokens CloudFormation resolves)."""

    def __init__(self, data: DataRefs) -> None:
        self._data = data

    def table(self, table_id: str) -> str:
        """The table's physical name."""
        return self._data.tables.by_id[table_id].table_name

    def queue(self, queue_id: str) -> str:
        """The queue's URL."""
        return self._data.queues[queue_id].queue.queue_url

    def secret(self, secret_id: str) -> str:
        """The secret's ARN."""
        return self._data.secrets.by_id[secret_id].secret_arn

    def data_key(self) -> str:
        """The envelope key's ARN."""
        return self._data.keys.envelope.key_arn

    def audit_mac_key(self) -> str:
        """The audit HMAC key's ARN."""
        return self._data.keys.audit_mac.key_arn

    def anchor_bucket(self) -> str:
        """The audit anchors bucket's name."""
        return self._data.audit_anchors.bucket.bucket_name

    def receipt_key(self) -> str:
        """The deletion receipts' signing key's ARN."""
        return self._data.keys.receipts.key_arn

    def catalog_bucket(self, bucket_id: str) -> str:
        """A catalog bucket's name."""
        return self._data.buckets[bucket_id].bucket_name
