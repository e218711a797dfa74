"""Carrier adapters reading their credentials from Secrets Manager (moto)."""
