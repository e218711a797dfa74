"""Data access: PynamoDB models and repository functions; the only place keys are built."""
