"""Conversations: who wrote, one timeline per recipient, agents' replies within the reply window."""
