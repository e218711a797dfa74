"""The on-call alarm topic, and the alarms, dashboard and canary of a stage (docs/alarms.md lists each and why)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.queues import encrypted_queue
from switchboard import signals

RUNBOOKS = "docs/runbooks.md"
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING
FIVE_MINUTES = Duration.minutes(5)
ONE_MINUTE = Duration.minutes(1)

# The runbook section of each alarm family (docs/runbooks.md headings; a test proves every anchor exists there).
ANCHORS = {
    "errors": "alarm-api-errors-and-slo",
    "functions": "alarm-function-errors",
    "latency": "alarm-latency",
    "queues": "alarm-queues-and-dead-letters",
    "throttles": "alarm-throttles",
    "abuse": "alarm-login-failures-429-and-waf-blocks",
    "purge": "alarm-purge-run",
    "circuits": "alarm-carrier-circuits",
    "kms": "alarm-kms-key-deletion",
    "ses": "alarm-ses-bounces-and-complaints",
    "canary": "alarm-canary",
    "drift": "cloudflare-ip-ranges",
}

# SLO: 99.95 % of API requests answered without a 5xx over 30 days. Google SRE's multi-window burn rates: page when
# the last hour burns the budget 14.4x as fast (2 % of the month's budget in an hour) and the last 5 minutes still
# do, or the last 6 hours burn it 6x as fast and the last 30 minutes still do (5 % in 6 hours).
SLO_TARGET = 0.9995
ERROR_BUDGET = 1 - SLO_TARGET
BURN_RATES = (  # (name, long window, short window, burn rate)
    ("Fast", Duration.hours(1), Duration.minutes(5), 14.4),
    ("Slow", Duration.hours(6), Duration.minutes(30), 6.0),
)
MIN_REQUESTS = 20  # a 5xx ratio on fewer requests in 5 minutes is noise (one failure of two is not an outage)
API_5XX_RATIO = 0.01  # 1 % of requests in 5 minutes
API_P99_MS = 3000  # API Gateway latency, p99 over 5 minutes, 3 periods in a row
FUNCTION_P99_FRACTION = 0.8  # a function's p99 duration above 80 % of its timeout: about to time out
HANDLER_INTERNAL_ERRORS = 3  # 500s a handler may answer in 5 minutes before on-call (and a rollback) is called
QUEUE_AGE_S = 900  # oldest message of a channel queue: 15 minutes late is a send customers notice
QUEUE_BACKLOG = 5000  # visible messages of one channel queue for 15 minutes
LAMBDA_THROTTLES = 10  # throttled invocations in 5 minutes, all functions of the account
LOGIN_FAILURES = 100  # failed logins in 5 minutes, whole stage (credential stuffing)
RATE_LIMITED = 500  # 429 answers in 5 minutes, whole stage
WAF_BLOCKS = 1000  # requests the web ACL blocked in 5 minutes
SES_BOUNCE_RATE = 0.05  # AWS reviews a sender at 5 % bounces (probation at 10 %)
SES_COMPLAINT_RATE = 0.001  # AWS reviews a sender at 0.1 % complaints (probation at 0.5 %)
PURGE_MISSED_HOURS = 3  # the purge job runs hourly: three hours without a finished run is a failed purge


def describe(why: str, family: str) -> str:
    """An alarm description: why it matters, then where the runbook is."""
    return f"{why} Runbook: {RUNBOOKS}#{ANCHORS[family]}"


def alarm(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: float,
    why: str,
    family: str,
    action: cloudwatch.IAlarmAction | None,
    periods: int = 1,
    datapoints: int | None = None,
    comparison: cloudwatch.ComparisonOperator = GTE,
    missing: cloudwatch.TreatMissingData = NOT_BREACHING,
) -> cloudwatch.Alarm:
    """One alarm with its runbook; `action` None only for a composite alarm's parts (the composite notifies)."""
    created = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=describe(why, family),
        metric=metric,
        threshold=threshold,
        evaluation_periods=periods,
        datapoints_to_alarm=datapoints,
        comparison_operator=comparison,
        treat_missing_data=missing,
    )
    if action is not None:
        created.add_alarm_action(action)
    return created


def signal(name: str, *, period: Duration = FIVE_MINUTES, stage: str = "", service: str = "") -> cloudwatch.Metric:
    """A switchboard.signals count: the whole stage's (`stage`) or one function's (`service`)."""
    dimensions = {signals.STAGE_DIMENSION: stage} if stage else {"service": service}
    return cloudwatch.Metric(
        namespace=signals.NAMESPACE, metric_name=name, dimensions_map=dimensions, statistic="Sum", period=period
    )


class AlarmTopic(Construct):
    """SNS topic every alarm notifies; the e-mail subscription has its own encrypted DLQ. It also hears of any
    ScheduleKeyDeletion or DisableKey on a KMS key of the stage's account (CloudTrail through EventBridge)."""

    def __init__(self, scope: Construct, construct_id: str, *, email: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="Switchboard alarms", master_key=key, enforce_ssl=True)
        self.delivery_dlq = encrypted_queue(self, "DeliveryDlq", key=key, retention_period=Duration.days(14))
        self.topic.add_subscription(subscriptions.EmailSubscription(email, dead_letter_queue=self.delivery_dlq))
        self.action = actions.SnsAction(self.topic)
        # Visible on the console and to the next successful delivery: on-call mail bounced or was refused.
        alarm_on_any_message(self, "DeliveryDlqNotEmpty", queue=self.delivery_dlq, action=self.action)
        self.key_deletion = key_deletion_rule(self, "KeyDeletion", topic=self.topic, dlq=self.delivery_dlq)


def key_deletion_rule(scope: Construct, construct_id: str, *, topic: sns.ITopic, dlq: sqs.IQueue) -> events.Rule:
    """KMS has no metric for a key pending deletion: CloudTrail's management events of KMS reach EventBridge, and a
    scheduled deletion or a disable of any key in the stage's (dedicated) account is sent to on-call at once.
    A disabled or deleted data key makes every table, queue and secret under it unreadable."""
    rule = events.Rule(
        scope,
        construct_id,
        description=describe("A KMS key of this account was scheduled for deletion or disabled.", "kms"),
        event_pattern=events.EventPattern(
            source=["aws.kms"],
            detail_type=["AWS API Call via CloudTrail"],
            detail={"eventSource": ["kms.amazonaws.com"], "eventName": ["ScheduleKeyDeletion", "DisableKey"]},
        ),
    )
    message = events.RuleTargetInput.from_text(
        f"KMS {events.EventField.from_path('$.detail.eventName')} on "
        f"{events.EventField.from_path('$.detail.requestParameters.keyId')} by "
        f"{events.EventField.from_path('$.detail.userIdentity.arn')}: cancel it now if unplanned "
        f"({RUNBOOKS}#{ANCHORS['kms']})"
    )
    # An undeliverable event lands in the alarm topic's own (alarmed) delivery DLQ.
    rule.add_target(targets.SnsTopic(topic, message=message, dead_letter_queue=dlq))
    return rule


def alarm_on_any_message(scope: Construct, construct_id: str, *, queue: sqs.IQueue, action: actions.SnsAction) -> None:
    """Alarm as soon as a dead-letter queue holds one message (R57)."""
    alarm(
        scope,
        construct_id,
        metric=queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
        threshold=1,
        why="A message was dead-lettered: inspect it, fix the cause, then redrive.",
        family="queues",
        action=action,
    )


def alarm_on_errors(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: int,
    description: str,
    action: actions.SnsAction,
) -> cloudwatch.Alarm:
    """Alarm when a Sum metric reaches `threshold` within one period (a failed job run, a crashed worker)."""
    return alarm(
        scope, construct_id, metric=metric, threshold=threshold, why=description, family="functions", action=action
    )


def ratio_5xx(api_metric: MetricsOf, period: Duration) -> cloudwatch.MathExpression:
    """5XXError / Count of the API over `period` (0 without requests)."""
    return cloudwatch.MathExpression(
        expression="IF(requests > 0, errors / requests, 0)",
        using_metrics={"errors": api_metric("5XXError", period), "requests": api_metric("Count", period)},
        period=period,
        label="5xx ratio",
    )


class MetricsOf:
    """The API Gateway metrics of one REST API stage, Sum over a period."""

    def __init__(self, api_name: str, stage: str) -> None:
        self.dimensions = {"ApiName": api_name, "Stage": stage}

    def __call__(self, name: str, period: Duration, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map=self.dimensions,
            statistic=statistic,
            period=period,
        )


def api_alarms(scope: Construct, *, api: MetricsOf, action: actions.SnsAction) -> dict[str, cloudwatch.IAlarm]:
    """The API's 5xx ratio, p99 latency and the SLO burn-rate alarms (composite: long and short window agree)."""
    ratio = ratio_5xx(api, FIVE_MINUTES)
    found: dict[str, cloudwatch.IAlarm] = {
        "5xx": alarm(
            scope,
            "Api5xxRatio",
            metric=cloudwatch.MathExpression(
                expression=f"IF(requests >= {MIN_REQUESTS}, errors / requests, 0)",
                using_metrics=dict(ratio.using_metrics),
                period=FIVE_MINUTES,
                label="5xx ratio",
            ),
            threshold=API_5XX_RATIO,
            why=f"More than {API_5XX_RATIO:.0%} of API requests answered 5xx in 5 minutes: customers see failures.",
            family="errors",
            action=action,
            comparison=GT,
        ),
        "latency": alarm(
            scope,
            "ApiLatencyP99",
            metric=api("Latency", FIVE_MINUTES, "p99"),
            threshold=API_P99_MS,
            why=f"The API's p99 latency stayed above {API_P99_MS} ms for 15 minutes: clients time out and retry.",
            family="latency",
            action=action,
            periods=3,
            comparison=GT,
        ),
    }
    for name, long_window, short_window, burn in BURN_RATES:
        limit = burn * ERROR_BUDGET
        parts = [
            alarm(
                scope,
                f"SloBurn{name}{window.to_minutes():.0f}m",
                metric=ratio_5xx(api, window),
                threshold=limit,
                why=f"Part of SloBurn{name}: the 5xx ratio over {window.to_human_string()} exceeds {limit:.4%}.",
                family="errors",
                action=None,
                comparison=GT,
            )
            for window in (long_window, short_window)
        ]
        composite = cloudwatch.CompositeAlarm(
            scope,
            f"SloBurn{name}",
            alarm_rule=cloudwatch.AlarmRule.all_of(*parts),
            alarm_description=describe(
                f"The API burns its {SLO_TARGET:.2%} availability budget {burn}x too fast over "
                f"{long_window.to_human_string()} and still over {short_window.to_human_string()}: at this rate "
                f"the month's budget is gone in {30 * 24 / burn:.0f} hours.",
                "errors",
            ),
        )
        composite.add_alarm_action(action)
        found[f"slo-{name.lower()}"] = composite
    return found


@dataclass(frozen=True)
class FunctionAlarms:
    """A function's error alarm and, for functions behind `live`, its latency alarm (CodeDeploy's rollback set)."""

    errors: cloudwatch.Alarm
    latency: cloudwatch.Alarm | None


def handler_error_metric(function_errors: cloudwatch.IMetric, service: str) -> cloudwatch.MathExpression:
    """Lambda Errors (a crash) plus the InternalErrors signal (a 500 the resolver answered) of one API function."""
    return cloudwatch.MathExpression(
        expression="FILL(crashes, 0) + FILL(answered, 0)",
        using_metrics={"crashes": function_errors, "answered": signal(signals.INTERNAL_ERRORS, service=service)},
        period=FIVE_MINUTES,
        label=f"{service} internal errors",
    )


def queue_alarms(
    scope: Construct, construct_id: str, *, queue: sqs.IQueue, action: actions.SnsAction
) -> list[cloudwatch.Alarm]:
    """A channel queue's oldest message age (2 periods) and backlog (3 periods)."""
    checks = (
        (
            "Age",
            queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
            QUEUE_AGE_S,
            2,
            f"The {construct_id} queue's oldest message waited over {QUEUE_AGE_S // 60} minutes: sends are late.",
        ),
        (
            "Backlog",
            queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
            QUEUE_BACKLOG,
            3,
            f"The {construct_id} queue held over {QUEUE_BACKLOG} messages for 15 minutes: workers cannot keep up.",
        ),
    )
    return [
        alarm(
            scope,
            f"{construct_id}{suffix}",
            metric=metric,
            threshold=threshold,
            why=why,
            family="queues",
            action=action,
            periods=periods,
            comparison=GT,
        )
        for suffix, metric, threshold, periods, why in checks
    ]


def table_throttle_alarm(
    scope: Construct, construct_id: str, *, table_name: str, action: actions.SnsAction
) -> cloudwatch.Alarm:
    """Read + write throttle events of one table (on-demand tables throttle too: above 2x their previous peak)."""

    def events_of(metric_name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=metric_name,
            dimensions_map={"TableName": table_name},
            statistic="Sum",
            period=FIVE_MINUTES,
        )

    return alarm(
        scope,
        construct_id,
        metric=cloudwatch.MathExpression(
            expression="FILL(reads, 0) + FILL(writes, 0)",
            using_metrics={"reads": events_of("ReadThrottleEvents"), "writes": events_of("WriteThrottleEvents")},
            period=FIVE_MINUTES,
            label="throttle events",
        ),
        threshold=1,
        why="DynamoDB throttled requests of this table: callers got 503s or retried.",
        family="throttles",
        action=action,
        periods=2,
    )


# Stage-wide signals with a simple threshold: (key, construct id, signal, threshold in 5 minutes, family, why).
SPIKES = (
    (
        "logins",
        "LoginFailureSpike",
        signals.LOGINS_FAILED,
        LOGIN_FAILURES,
        "abuse",
        f"{LOGIN_FAILURES} failed logins in 5 minutes: credential stuffing or a broken login client.",
    ),
    (
        "429",
        "RateLimitedSpike",
        signals.RATE_LIMITED,
        RATE_LIMITED,
        "abuse",
        f"{RATE_LIMITED} requests answered 429 in 5 minutes: an abusive or runaway client.",
    ),
    (
        "circuits",
        "CarrierCircuitOpened",
        signals.CIRCUITS_OPENED,
        1,
        "circuits",
        "A carrier's circuit breaker opened: its sends fail over or wait (the log names the carrier).",
    ),
)


def stage_signal_alarms(scope: Construct, *, stage: str, action: actions.SnsAction) -> dict[str, cloudwatch.Alarm]:
    """Alarms on the stage-wide signals (switchboard.signals)."""
    found = {
        key: alarm(
            scope,
            construct_id,
            metric=signal(name, stage=stage),
            threshold=threshold,
            why=why,
            family=family,
            action=action,
        )
        for key, construct_id, name, threshold, family, why in SPIKES
    }
    found["purge-missed"] = alarm(
        scope,
        "PurgeRunMissed",
        metric=signal(signals.PURGE_RUNS_SUCCEEDED, stage=stage, period=Duration.hours(1)),
        threshold=1,
        why=f"No purge run finished for {PURGE_MISSED_HOURS} hours: deletions promised to customers are late.",
        family="purge",
        action=action,
        periods=PURGE_MISSED_HOURS,
        comparison=LT,
        # No data is exactly what a run that never starts (or always fails) leaves.
        missing=cloudwatch.TreatMissingData.BREACHING,
    )
    return found


def waf_alarm(scope: Construct, *, web_acl_ref: str, region: str, action: actions.SnsAction) -> cloudwatch.Alarm:
    """Requests the web ACL blocked (all rules): an attack, or a rule blocking real customers."""
    return alarm(
        scope,
        "WafBlocks",
        metric=cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            # Ref of a web ACL is "name|id|scope".
            dimensions_map={"WebACL": Fn.select(0, Fn.split("|", web_acl_ref)), "Region": region, "Rule": "ALL"},
            statistic="Sum",
            period=FIVE_MINUTES,
        ),
        threshold=WAF_BLOCKS,
        why=f"The WAF blocked {WAF_BLOCKS} requests in 5 minutes: an attack, or a rule now blocking customers.",
        family="abuse",
        action=action,
    )


def ses_alarms(scope: Construct, *, configuration_set: str, action: actions.SnsAction) -> list[cloudwatch.Alarm]:
    """The configuration set's reputation rates (SES reviews, then pauses, a sender above them)."""
    return [
        alarm(
            scope,
            construct_id,
            metric=cloudwatch.Metric(
                namespace="AWS/SES",
                metric_name=f"Reputation.{kind}Rate",
                dimensions_map={"ses:configuration-set": configuration_set},
                statistic="Maximum",
                period=Duration.hours(1),
            ),
            threshold=threshold,
            why=f"Our e-mail {kind.lower()} rate reached {threshold:.1%}: SES puts the account under review.",
            family="ses",
            action=action,
        )
        for construct_id, kind, threshold in (
            ("SesBounceRate", "Bounce", SES_BOUNCE_RATE),
            ("SesComplaintRate", "Complaint", SES_COMPLAINT_RATE),
        )
    ]


def dashboard(
    scope: Construct,
    *,
    name: str,
    api: MetricsOf,
    authorizer_service: str,
    queues: Mapping[str, sqs.IQueue],
    stage: str,
    alarms: Sequence[cloudwatch.IAlarm],
) -> cloudwatch.Dashboard:
    """The stage at a glance: traffic and errors, latency, authorizer, queues, abuse signals, every alarm."""
    board = cloudwatch.Dashboard(scope, "Dashboard", dashboard_name=name, default_interval=Duration.hours(6))
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Requests and 5xx",
            left=[api("Count", FIVE_MINUTES), api("5XXError", FIVE_MINUTES), api("4XXError", FIVE_MINUTES)],
            right=[ratio_5xx(api, FIVE_MINUTES)],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Latency (ms)",
            left=[api("Latency", FIVE_MINUTES, "p50"), api("Latency", FIVE_MINUTES, "p99")],
            right=[api("IntegrationLatency", FIVE_MINUTES, "p99")],
            width=12,
        ),
    )
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Authorizer: refusals (expected) and internal errors",
            left=[signal(signals.CREDENTIALS_REFUSED, service=authorizer_service)],
            right=[signal(signals.AUTHORIZER_INTERNAL_ERRORS, service=authorizer_service)],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Queue age (s)",
            left=[q.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES) for q in queues.values()],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Queue backlog",
            left=[q.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES) for q in queues.values()],
            width=8,
        ),
    )
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Abuse and carriers",
            left=[
                signal(signals.LOGINS_FAILED, stage=stage),
                signal(signals.RATE_LIMITED, stage=stage),
                signal(signals.CIRCUITS_OPENED, stage=stage),
            ],
            width=12,
        ),
        cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=12, height=8),
    )
    return board


def region_of(scope: Construct) -> str:
    """The stack's Region (a token when the stack is environment-agnostic)."""
    return Stack.of(scope).region
