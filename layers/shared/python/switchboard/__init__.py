"""Switchboard's shared package: observability, settings, clock, API plumbing, logic and data access."""
