"""Operator API: incidents on the public status page (open, update, resolve, list)."""
