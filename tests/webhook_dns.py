"""A fake resolver for webhook deliveries (their one DNS lookup): the `dns` fixture, a name -> addresses map."""

from __future__ import annotations

import pytest

from switchboard import webhook_client

PUBLIC_IP = "93.184.215.14"  # what hooks.example.com resolves to unless a test says otherwise


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """hostname -> addresses; an unknown name does not resolve. Tests edit the map."""
    answers: dict[str, list[str]] = {"hooks.example.com": [PUBLIC_IP]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    monkeypatch.setattr(webhook_client, "resolve", resolve)
    return answers
