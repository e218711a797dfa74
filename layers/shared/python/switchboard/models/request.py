"""Who sent a request and how to find it again: the request id, trusted client IP and user agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard import settings
from switchboard.crypto import client_ip
from switchboard.observability import logger

CLIENT_IP_HEADER = "cf-connecting-ip"


@dataclass(frozen=True)
class RequestMeta:
    """What every audit event and security log line carries about its request."""

    request_id: str
    source_ip: str
    user_agent: str

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> RequestMeta:
        """Read from an API Gateway proxy (or REQUEST authorizer) event.

        Deployed, only Cloudflare can reach the API (resource policy + mTLS), so `CF-Connecting-IP` is the client;
        X-Forwarded-For and friends are client-supplied and ignored. The local stack has no Cloudflare: the socket
        address (requestContext.identity.sourceIp) is the client there.
        """
        context = event.get("requestContext") or {}
        identity = context.get("identity") or {}
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
        source_ip = identity.get("sourceIp") or ""
        if not settings.get().rules.trust_socket_ip:
            source_ip = headers.get(CLIENT_IP_HEADER, "") or source_ip
        if vouching := headers.get(client_ip.HEADER):
            source_ip = _vouched(vouching, event, source_ip)
        return cls(
            request_id=context.get("requestId") or "",
            source_ip=source_ip,
            user_agent=(identity.get("userAgent") or headers.get("user-agent") or "")[:512],
        )


def _vouched(value: str, event: dict[str, Any], edge_ip: str) -> str:
    """The browser's address a console request vouches for; the edge's address when the value vouches for nothing."""
    if not client_ip.held():
        return edge_ip  # a function the console never calls holds no key: the header is just text here
    try:
        return client_ip.vouched(value, str(event.get("httpMethod") or ""), str(event.get("path") or ""))
    except client_ip.Refused as refused:
        # Only the console sends the header; a refused one is a forgery or a misconfiguration, worth a look.
        logger.warning("console client address refused", extra={"reason": str(refused), "edge_ip": edge_ip})
    except Exception:  # the key could not be read: the request goes on, counted against the edge's address
        logger.exception("console client address unchecked", extra={"edge_ip": edge_ip})
    return edge_ip
