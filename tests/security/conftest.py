"""Adversarial suites run the handlers under moto like tests/integration: the same fixtures, imported."""

from tests.infra.conftest import assembly  # noqa: F401 - a fixture (the synthesized dev and prod stages)
from tests.integration.conftest import _handlers_run_as_deployed, aws, context  # noqa: F401 - fixtures
from tests.integration.identity.conftest import identity  # noqa: F401 - a fixture
from tests.integration.messaging.conftest import account, queues  # noqa: F401 - fixtures
from tests.integration.webhooks.conftest import listener  # noqa: F401 - a fixture
