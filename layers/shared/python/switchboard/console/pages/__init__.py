"""The console's pages; importing this package registers every one of them with switchboard.console.app."""

from switchboard.console.pages import auth, keys, members, profile

__all__ = ["auth", "keys", "members", "profile"]
