"""Use cases: functions over models and collaborators, raising domain errors."""
