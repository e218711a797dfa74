"""Adversarial suites: the handlers under moto (the integration fixtures) and, where a test says so, the local stack."""

from tests.integration.conftest import _handlers_run_as_deployed, aws, context  # noqa: F401 - fixtures
from tests.integration.identity.conftest import identity  # noqa: F401 - a fixture: peppers and the SES sender
