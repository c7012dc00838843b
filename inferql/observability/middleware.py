"""The request middleware (pure ASGI, HTTP and websockets): a request id for
every request, returned as ``X-Request-ID``; one log line per request; and the
count of open websockets."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from inferql.observability import metrics
from inferql.observability.logging import (
    REQUEST_ID_HEADER,
    request_id_from,
    set_request_id,
    start_operation_note,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("inferql.access")

# Probes and scrapes come every few seconds: logged at DEBUG, not INFO.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = request_id_from(header)
        set_request_id(request_id)
        note = start_operation_note()
        id_header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        status: int | None = None
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            elif message["type"] == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", []), id_header]
            elif message["type"] == "websocket.close" and status is None:
                status = 403  # closed before it was accepted
            await send(message)

        websocket = scope["type"] == "websocket"
        if websocket:
            metrics.WEBSOCKET_CONNECTIONS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            if websocket:
                metrics.WEBSOCKET_CONNECTIONS.dec()
            path: str = scope["path"]
            method = "WEBSOCKET" if websocket else scope["method"]
            logger.log(
                logging.DEBUG if path in _QUIET_PATHS else logging.INFO,
                "%s %s %s",
                method,
                path,
                status if status is not None else "-",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status_code": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "operation_type": note.operation_type,
                    "operation_name": note.operation_name,
                    "client": _client(scope),
                },
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
