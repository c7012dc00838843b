"""CORS for browser clients on other origins, from ``settings.cors_origins``.

Starlette's CORSMiddleware answers preflights and marks responses; the
websocket handshake, which CORS does not cover, is checked against the same
origins by the view (a handshake from an origin not listed is refused, 403).
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from inferql.settings import Settings

# What a browser client may send, and read back, across origins.
ALLOWED_HEADERS = ["Accept", "Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"]
EXPOSED_HEADERS = [
    "Idempotent-Replayed",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "X-Request-ID",
]


def cors_middleware(settings: Settings) -> list[Middleware]:
    """The CORS middleware, or none when no origin is allowed."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            # Credentials travel in headers, never cookies: no credentialed CORS.
            allow_credentials=False,
            max_age=600,
        )
    ]
