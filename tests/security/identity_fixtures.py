"""The identity suites' fixtures: the moto account, peppers and SES of tests/integration, and a frozen clock.

Imported by name into each test module (`from tests.security.identity_fixtures import ...`), so tests/security
needs no conftest of its own.
"""

from tests.integration.conftest import _handlers_run_as_deployed, aws  # noqa: F401 - fixtures
from tests.integration.frozen import frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.identity.conftest import identity  # noqa: F401 - a fixture

# A password the screening of R1/R2 accepts: four unrelated words, nothing from any list of phrases.
PASSWORD = "lantern quasar velvet plumbing"
