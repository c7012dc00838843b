"""Stand-ins and helpers shared by the tests.

``CountingModels`` stands in for the real model ONLY in tests about batching and
scheduling: it records every call so a test can count model invocations.
Everything end to end runs the real model.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from inferql.inference import LabelScore, ModelRef, Prediction


class CountingModel:
    """Labels each text with the text itself (so order is checkable) and records
    every call. ``delay`` makes each call take that long; ``fail`` makes it raise."""

    def __init__(self, ref: ModelRef, registry: CountingModels) -> None:
        self._ref = ref
        self._registry = registry

    @property
    def ref(self) -> ModelRef:
        return self._ref

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self._registry.record(self._ref, list(texts))
        if self._registry.delay:
            time.sleep(self._registry.delay)
        if self._registry.fail:
            raise RuntimeError("secret internal detail: the GPU caught fire")
        return [
            Prediction(
                label=text,
                score=1.0,
                scores=(LabelScore(text, 1.0),),
                model=self._ref,
                truncated=False,
            )
            for text in texts
        ]


class CountingModels:
    """A ModelProvider of CountingModels that shares one call log."""

    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.calls: list[tuple[ModelRef, list[str]]] = []
        self.started_at: list[float] = []  # time.monotonic() as each call began
        self._lock = threading.Lock()

    def load(self, ref: ModelRef) -> CountingModel:
        return CountingModel(ref, self)

    def record(self, ref: ModelRef, texts: list[str]) -> None:
        with self._lock:
            self.started_at.append(time.monotonic())
            self.calls.append((ref, texts))

    @property
    def batches(self) -> list[list[str]]:
        with self._lock:
            return [texts for _, texts in self.calls]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class GraphQLWebSocket:
    """A minimal graphql-transport-ws client over a real websocket, for tests."""

    def __init__(self, url: str, payload: dict[str, Any] | None = None) -> None:
        self.url = url
        self.payload = payload or {}
        self._ws: Any = None

    async def __aenter__(self) -> GraphQLWebSocket:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        self._ws = await connect(self.url, subprotocols=[Subprotocol("graphql-transport-ws")])
        await self.send({"type": "connection_init", "payload": self.payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def receive(self, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                message: dict[str, Any] = json.loads(await self._ws.recv())
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                    continue
                return message

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        await self.send({"id": op_id, "type": "subscribe", "payload": payload})

    async def until_complete(self, op_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Every message of one operation up to and including its complete/error."""
        messages: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                message = await self.receive()
                assert message.get("id") == op_id, message
                messages.append(message)
                if message["type"] in ("complete", "error"):
                    return messages


class WebhookReceiver:
    """A real HTTP server on loopback that records every POST it gets. It answers
    each request with the next status of ``statuses`` (then 204); a status of 0
    makes it hang up without answering."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver._statuses.pop(0) if receiver._statuses else 204
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def until_received(
        self, count: int, timeout: float = 20
    ) -> list[tuple[dict[str, str], bytes]]:
        """The first ``count`` requests, once they have arrived."""
        async with asyncio.timeout(timeout):
            while True:
                with self._lock:
                    if len(self.requests) >= count:
                        return list(self.requests[:count])
                await asyncio.sleep(0.02)
