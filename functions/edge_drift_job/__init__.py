"""The scheduled check of Cloudflare's published IP ranges against the deployed allowlist (R47)."""
