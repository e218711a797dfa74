"""R61: rewraps KMS-only data keys under key-encryption keys."""
