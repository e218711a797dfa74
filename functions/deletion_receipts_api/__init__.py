"""R61: signed deletion receipts and their verification keys."""
