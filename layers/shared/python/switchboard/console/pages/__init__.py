"""The console's pages; importing this package registers every one of them with switchboard.console.app."""

from switchboard.console.pages import auth, content, messages, recipients

__all__ = ["auth", "content", "messages", "recipients"]
