"""Stand-ins and helpers shared by the tests.

``CountingModels`` stands in for the real model ONLY in tests about batching and
scheduling: it records every call so a test can count model invocations.
Everything end to end runs the real model.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from inferql.app import create_app, server_options
from inferql.inference import LabelScore, ModelProvider, ModelRef, Prediction
from inferql.inference.catalog import Catalog
from inferql.settings import Settings


class CountingModel:
    """Labels each text with the text itself (so order is checkable) and records
    every call. ``delay`` makes each call take that long (``delays``: a call with
    one of its texts takes that long instead); ``fail`` makes every call raise,
    ``failing`` a call with one of those texts."""

    def __init__(self, ref: ModelRef, registry: CountingModels) -> None:
        self._ref = ref
        self._registry = registry

    @property
    def ref(self) -> ModelRef:
        return self._ref

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        delay, fails = self._registry.record(self._ref, list(texts))
        if delay:
            time.sleep(delay)
        if fails:
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

    def __init__(
        self,
        *,
        delay: float = 0.0,
        delays: Mapping[str, float] | None = None,
        fail: bool = False,
        failing: Collection[str] = (),
    ) -> None:
        self.delay = delay
        self.delays = dict(delays or {})
        self.failing = frozenset(failing)
        self.fail = fail
        self.calls: list[tuple[ModelRef, list[str]]] = []
        self.started_at: list[float] = []  # time.monotonic() as each call began
        self._lock = threading.Lock()

    def load(self, ref: ModelRef) -> CountingModel:
        return CountingModel(ref, self)

    def record(self, ref: ModelRef, texts: list[str]) -> tuple[float, bool]:
        """Log a call; how long it is to take, and whether it fails."""
        with self._lock:
            self.started_at.append(time.monotonic())
            self.calls.append((ref, texts))
        delay = next((self.delays[t] for t in texts if t in self.delays), self.delay)
        return delay, self.fail or any(t in self.failing for t in texts)

    @property
    def batches(self) -> list[list[str]]:
        with self._lock:
            return [texts for _, texts in self.calls]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class RunningServer:
    """The app under uvicorn on ``settings.port``, in a thread: real sockets for
    real clients. ``models`` is needed only when the settings run a worker."""

    def __init__(self, settings: Settings, models: ModelProvider | None, catalog: Catalog) -> None:
        self.app = create_app(settings, models=models, catalog=catalog)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            lifespan="on",
            **server_options(settings),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        scheme = "https" if settings.ssl_certfile else "http"
        self.url = f"{scheme}://127.0.0.1:{settings.port}"
        self.ws_url = f"{scheme.replace('http', 'ws')}://127.0.0.1:{settings.port}/graphql"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            threading.Event().wait(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


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
