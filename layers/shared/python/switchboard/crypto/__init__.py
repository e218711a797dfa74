"""Cryptography: per-account envelope encryption, blind indexes, passwords (Argon2id) and tokens."""
