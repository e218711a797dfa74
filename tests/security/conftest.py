"""The adversarial suites run against the handlers under moto: the integration suites' fixtures, shared here."""

from tests.integration.conftest import _handlers_run_as_deployed, aws  # noqa: F401 - fixtures
from tests.integration.identity.conftest import identity  # noqa: F401 - a fixture
from tests.integration.messaging.conftest import account, queues  # noqa: F401 - fixtures
from tests.integration.webhooks.conftest import listener  # noqa: F401 - a fixture queues needs
