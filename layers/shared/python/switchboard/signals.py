"""Operational signals with alarms on them (docs/alarms.md): one EMF record per event, flushed at once."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from switchboard import settings

NAMESPACE = "Switchboard"
# Each name is read by infra/constructs/alarms.py: renaming one here silences its alarm (a test compares them).
AUTHORIZER_INTERNAL_ERRORS = "AuthorizerInternalErrors"  # the authorizer failed (not a refused credential)
CREDENTIALS_REFUSED = "CredentialsRefused"  # the authorizer answered 401: expected traffic, never an alarm
INTERNAL_ERRORS = "InternalErrors"  # a handler answered 500 (the resolver caught what it raised)
RATE_LIMITED = "RequestsRateLimited"  # a request was answered 429 (account/key bucket or credential throttle)
LOGINS_FAILED = "LoginsFailed"  # POST /v1/sessions refused a password or second factor
PURGE_RUNS_SUCCEEDED = "PurgeRunsSucceeded"  # the purge job finished a run (its absence alarms)
CIRCUITS_OPENED = "CarrierCircuitsOpened"  # a carrier's circuit breaker opened
STAGE_DIMENSION = "stage"  # the second dimension set: the stage-wide sum that stage-wide alarms watch


def count(name: str, value: float = 1) -> None:
    """Emit `name` now, under [service] (which function) and [stage] (the whole stage, one series to alarm on).

    Its own provider and flush, not the shared `metrics`: the record leaves even when the invocation then fails,
    and a handler without `log_metrics` still publishes it.
    """
    current = settings.get()
    emf = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=current.service or None)
    emf.add_metric(name=name, unit=MetricUnit.Count, value=value)
    emf.add_dimensions(**{STAGE_DIMENSION: current.stage})
    emf.flush_metrics()
