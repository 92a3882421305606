"""Tokens of the servers tickwire opens (metrics and debug HTTP, the consumer WebSocket API).

A server bound to a loopback address needs no token; one bound anywhere else refuses to start
without one (``tickwire.config``). A request carries it as ``Authorization: Bearer <token>`` (or,
for the WebSocket API, ``?token=<token>``); it is compared in constant time and never echoed.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

__all__ = ["MIN_TOKEN_LENGTH", "bearer_matches", "query_matches"]

MIN_TOKEN_LENGTH = 16


def bearer_matches(token: bytes, authorization: str | None) -> bool:
    """True when the value of an ``Authorization`` header is ``Bearer`` and ``token``."""
    if authorization is None:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def query_matches(token: bytes, query: str) -> bool:
    """True when the URL query ``query`` has ``token=`` and ``token``."""
    given = parse_qs(query).get("token")
    return given is not None and len(given) == 1 and hmac.compare_digest(given[0].encode(), token)
