"""Health, public status and security.txt."""
