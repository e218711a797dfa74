"""The scheduled job that derives component health from live signals and publishes the static status page."""
