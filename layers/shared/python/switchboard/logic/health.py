"""Component health from live signals: DLQ depth, open carrier circuits, the API's 5xx ratio and queue age.

The thresholds are documented in docs/operators.md#status (a unit test keeps the table and these numbers equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from switchboard import catalog, clock, settings
from switchboard.carriers import routing
from switchboard.dal import circuits, status_page
from switchboard.models.status import ComponentName, ComponentStatus, StatusPageConfig

# Which component each catalog queue's backlog and dead letters hurt (platform e-mail is part of the API: signup,
# verification and password resets wait on it).
QUEUE_COMPONENT: Mapping[str, ComponentName] = {
    **{f"{channel.capitalize()}Send": channel for channel in catalog.CHANNELS},
    "Callbacks": "webhooks",
    "Mail": "api",
}
DLQ_DEGRADED = 1  # any dead-lettered message: something failed every retry
# The oldest message's age (seconds): a send or an e-mail this late is visibly late. Callbacks are left out: a
# customer's failing endpoint keeps its jobs retrying for ~29 h by design (docs/webhooks.md), which ages the queue
# without anything being wrong on our side.
QUEUE_AGE_DEGRADED_S = 300
QUEUE_AGE_OUTAGE_S = 1800
AGE_QUEUES = frozenset(q for q in QUEUE_COMPONENT if q != "Callbacks")
# The API's 5xx answers per request over the last 5 minutes, once at least MIN_REQUESTS came in (a handful of
# requests at night cannot flip the page on one error).
ERROR_RATIO_DEGRADED = 0.01
ERROR_RATIO_OUTAGE = 0.10
MIN_REQUESTS = 20
_SEVERITY: Mapping[str, int] = {"operational": 0, "degraded": 1, "outage": 2}


@dataclass(frozen=True)
class Signals:
    """One reading of every live signal."""

    dlq_depth: Mapping[str, int]  # catalog queue id -> messages in its DLQ
    queue_age_s: Mapping[str, float | None]  # catalog queue id -> oldest message's age (None: no datapoint)
    requests: float | None  # API requests in the period
    errors_5xx: float | None  # of which answered 5xx
    open_circuits: frozenset[str]  # carriers whose breaker is open now


@dataclass
class Reading:
    """A component's health and the signals that made it so (kept for operators, not shown publicly)."""

    status: ComponentStatus = "operational"
    reasons: list[str] = field(default_factory=list)

    def worsen(self, status: ComponentStatus, reason: str) -> None:
        """Record a signal past its threshold; the component takes the worst of them."""
        if _SEVERITY[status] > _SEVERITY[self.status]:
            self.status = status
        self.reasons.append(reason)


def channel_routes() -> dict[str, tuple[str, ...]]:
    """Each channel's carriers in this stage, in route order (the sandbox's in test-mode stages)."""
    rules = settings.get().rules
    routes: dict[str, tuple[str, ...]] = {}
    for channel in catalog.CHANNELS:
        route = routing.SANDBOX if rules.test_mode else routing.ROUTES[channel]
        extra = [c for (ch, _), carriers in routing.ROUTES_BY_COUNTRY.items() if ch == channel for c in carriers]
        routes[channel] = tuple(dict.fromkeys([*route, *extra]))
    return routes


def evaluate(signals: Signals, routes: Mapping[str, Iterable[str]]) -> dict[str, Reading]:
    """Every component's health from one reading of the signals (pure: the thresholds above)."""
    readings: dict[str, Reading] = {name: Reading() for name in QUEUE_COMPONENT.values()}
    for queue_id, depth in sorted(signals.dlq_depth.items()):
        if depth >= DLQ_DEGRADED:
            readings[QUEUE_COMPONENT[queue_id]].worsen("degraded", f"{queue_id} DLQ holds {depth} message(s)")
    for queue_id, age in sorted(signals.queue_age_s.items()):
        if age is None or queue_id not in AGE_QUEUES:
            continue
        if age >= QUEUE_AGE_OUTAGE_S:
            readings[QUEUE_COMPONENT[queue_id]].worsen("outage", f"{queue_id} oldest message {age:.0f} s old")
        elif age >= QUEUE_AGE_DEGRADED_S:
            readings[QUEUE_COMPONENT[queue_id]].worsen("degraded", f"{queue_id} oldest message {age:.0f} s old")
    if signals.requests is not None and signals.requests >= MIN_REQUESTS:
        ratio = (signals.errors_5xx or 0.0) / signals.requests
        if ratio >= ERROR_RATIO_OUTAGE:
            readings["api"].worsen("outage", f"5xx ratio {ratio:.1%}")
        elif ratio >= ERROR_RATIO_DEGRADED:
            readings["api"].worsen("degraded", f"5xx ratio {ratio:.1%}")
    for channel, carriers in routes.items():
        route = list(carriers)
        down = [c for c in route if c in signals.open_circuits]
        if down and len(down) == len(route):
            readings[channel].worsen("outage", f"every carrier's circuit is open: {', '.join(down)}")
        elif down:
            readings[channel].worsen("degraded", f"circuit open: {', '.join(down)}")
    return readings


def read_signals(config: StatusPageConfig, routes: Mapping[str, Iterable[str]], now: datetime) -> Signals:
    """Read every signal once: one GetQueueAttributes per DLQ, one GetItem per carrier, ONE GetMetricData."""
    metrics = [
        status_page.Metric(
            "requests", "AWS/ApiGateway", "Count", {"ApiName": config.api_name, "Stage": config.api_stage}, "Sum"
        ),
        status_page.Metric(
            "errors", "AWS/ApiGateway", "5XXError", {"ApiName": config.api_name, "Stage": config.api_stage}, "Sum"
        ),
        *(
            status_page.Metric(
                f"age{index}",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": config.queues[queue_id].name},
                "Maximum",
            )
            for index, queue_id in enumerate(sorted(AGE_QUEUES & set(config.queues)))
        ),
    ]
    values = status_page.read_metrics(metrics, end=now)
    ages = {queue_id: values[f"age{index}"] for index, queue_id in enumerate(sorted(AGE_QUEUES & set(config.queues)))}
    carriers = sorted({c for route in routes.values() for c in route})
    instant = now.timestamp()
    open_circuits = frozenset(
        c for c in carriers if (until := circuits.get(c).open_until) is not None and until > instant
    )
    return Signals(
        dlq_depth={queue_id: status_page.dlq_depth(q.dlq_url) for queue_id, q in sorted(config.queues.items())},
        queue_age_s=ages,
        requests=values["requests"],
        errors_5xx=values["errors"],
        open_circuits=open_circuits,
    )


def check(config: StatusPageConfig) -> dict[str, Reading]:
    """Read the live signals now and judge every component."""
    routes = channel_routes()
    return evaluate(read_signals(config, routes, clock.now()), routes)
