"""Account-closure tests run on the identity fixture (peppers, SES sender) over the moto account."""

from tests.integration.identity.conftest import identity

__all__ = ["identity"]
