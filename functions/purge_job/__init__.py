"""The scheduled purge of expired items."""
