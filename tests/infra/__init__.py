"""infra tests."""
