"""Switchboard tests: unit, integration (moto), infra (CDK template), e2e (local stack over HTTP)."""
