"""Stateless resources: the catalog functions, the API and its edge, schedules and alarms."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra import catalog
from infra.catalog import Access
from infra.config import StageConfig
from infra.constructs import grants
from infra.constructs.alarms import alarm_on_errors
from infra.constructs.edge import CustomDomain, Firewall
from infra.constructs.job_schedule import JobSchedule
from infra.constructs.python_function import ARCHITECTURE, RUNTIME, PythonFunction
from infra.constructs.rest_api import STAGE_NAME, RestApi
from infra.paths import DEPS_LAYER_DIR, FUNCTIONS_DIR, SHARED_LAYER_DIR
from infra.stacks.data_stack import DataStack


class ApiStack(Stack):
    """One house Lambda per catalog function, wired to the data stack's resources by its catalog grants."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.retain_data, **kwargs)
        self._config = config
        self._data = data
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
        self.functions = {spec.name: self._function(spec) for spec in catalog.FUNCTIONS}

        self.rest_api = RestApi(
            self,
            "Rest",
            stage=config.name,
            logs_key=data.keys.logs,
            log_retention_days=config.log_retention_days,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
        )
        authorizer = catalog.authorizer()
        if authorizer is not None:
            self.rest_api.use_authorizer(self.functions[authorizer.name].function)
        self.methods = {
            (route.method, route.path): self.rest_api.add_route(route, self.functions[fn.name].function)
            for route, fn in catalog.routes()
        }
        self.domain = CustomDomain(
            self,
            "Domain",
            domain_name=config.domain_name,
            truststore_uri=config.truststore_uri,
            truststore_version=config.truststore_version,
            stage=self.rest_api.stage,
        )
        self.firewall = Firewall(
            self,
            "Firewall",
            stage=self.rest_api.stage,
            stage_name=config.name,
            rate_limit_per_ip=config.waf_rate_limit_per_ip,
            auth_rate_limit_per_ip=config.waf_auth_rate_limit_per_ip,
            logs_key=data.keys.logs,
            log_retention_days=config.log_retention_days,
        )
        self.schedules = {
            spec.name: JobSchedule(
                self,
                f"{_pascal(spec.name)}Schedule",
                schedule=spec.schedule,
                function=self.functions[spec.name].function,
                key=data.keys.data,
                alarm_action=data.alarms.action,
            )
            for spec in catalog.FUNCTIONS
            if spec.schedule is not None
        }
        self._alarms()

    def _environment(self, spec: catalog.Function) -> dict[str, str]:
        """What switchboard.settings reads: the names of exactly the resources the function is granted."""
        config, data = self._config, self._data
        environment = {
            "SECURITY_CONTACT": config.security_contact,
            "SECURITY_POLICY_URL": config.security_policy_url,
            "PUBLIC_BASE_URL": f"https://{config.domain_name}",
        }
        if spec.sends_email:
            environment["MAIL_FROM"] = config.mail_from
        for table_id in spec.tables:
            environment[catalog.table(table_id).env] = data.tables.by_id[table_id].table_name
        for queue_id in spec.queues:
            environment[catalog.queue(queue_id).env] = data.queues[queue_id].queue.queue_url
        for secret_id in spec.secrets:
            environment[_secret(secret_id).env] = data.secrets.by_id[secret_id].secret_arn
        if spec.uses_data_key:
            environment["DATA_KEY_ID"] = data.keys.envelope.key_arn
        return environment

    def _function(self, spec: catalog.Function) -> PythonFunction:
        config, data = self._config, self._data
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
            environment=self._environment(spec),
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
        consumed = {spec.consumes} - {None} | {q for q, a in spec.queues.items() if a is Access.CONSUME}
        for queue_id, access in spec.queues.items():
            if access is Access.SEND:
                grants.grant_queue_send(role, queue=data.queues[queue_id].queue, key=data.keys.data)
            elif access is not Access.CONSUME:
                raise ValueError(f"{spec.name}: queues support send or consume, not {access}")
        for queue_id in sorted(q for q in consumed if q is not None):
            # A mapping without SqsEventSource's automatic grant (an unconditioned kms:Decrypt): ours is scoped.
            queue = data.queues[queue_id].queue
            function.function.add_event_source_mapping(
                f"{queue_id}Events",
                event_source_arn=queue.queue_arn,
                batch_size=spec.batch_size,
                report_batch_item_failures=True,
            )
            grants.grant_queue_consume(role, queue=queue, key=data.keys.data)
        for secret_id, access in spec.secrets.items():
            grants.grant_secret_read(role, secret=data.secrets.by_id[secret_id], key=data.keys.data, access=access)
        if spec.uses_data_key:
            grants.grant_envelope(role, key=data.keys.envelope, creates=spec.creates_data_keys)
        if spec.sends_email:
            grants.grant_send_email(
                role,
                identity_arn=self.format_arn(
                    service="ses", resource="identity", resource_name=self.mail_identity.email_identity_name
                ),
                from_address=self.mail_from_address,
            )

    def _alarms(self) -> None:
        action = self._data.alarms.action
        alarm_on_errors(
            self,
            "Api5xx",
            metric=self.rest_api.api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=5,
            description=f"The {STAGE_NAME} stage answered 5xx at least 5 times in 5 minutes",
            action=action,
        )
        for name, function in self.functions.items():
            alarm_on_errors(
                self,
                f"{_pascal(name)}Errors",
                metric=function.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                description=f"{name} raised an error (for the purge job: a failed run)",
                action=action,
            )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _secret(secret_id: str) -> catalog.Secret:
    return next(s for s in catalog.SECRETS if s.id == secret_id)
