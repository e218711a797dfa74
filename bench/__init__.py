"""Benchmarks that print figures; goals live here, not in timed tests."""
