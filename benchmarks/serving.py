"""What serving costs without the model: CPU per ``classify`` request through the
whole ASGI app (Starlette, the middleware, strawberry, the job path, the worker's
bookkeeping), in one process, with a model that answers at once. No sockets:
requests are ASGI calls, so uvicorn's HTTP parsing is not in the figure.

    python -m benchmarks.serving                 # uncached and cached, 1 and 64 clients
    python -m benchmarks.serving --requests 8000

Prints one JSON object: microseconds of CPU (and of wall time) per request. It
is the floor under the gateway's cost per request in the HTTP case, where the
model shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from inferql.app import create_app
from inferql.inference import LabelScore, ModelRef, Prediction
from inferql.settings import Settings

QUERY = "query Classify($text: String!) { classify(text: $text) { label score } }"


class InstantModel:
    """Labels every text ``positive`` at once."""

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        scores = (LabelScore("positive", 1.0),)
        return [
            Prediction(label="positive", score=1.0, scores=scores, model=self.ref, truncated=False)
            for _ in texts
        ]


class InstantModels:
    def load(self, ref: ModelRef) -> InstantModel:
        return InstantModel(ref)


async def _request(app: Any, body: bytes) -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    headers = [
        (b"content-type", b"application/json"),
        (b"accept", b"application/graphql-response+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    if status != [200]:
        raise RuntimeError(f"status {status}")


async def measure(cached: bool, clients: int, requests: int) -> dict[str, float]:
    settings = Settings.model_validate(
        {"cache_ttl_s": 600 if cached else 0, "log_level": "warning", "model_calls": 1}
    )
    app = create_app(settings, models=InstantModels())
    distinct = 50 if cached else requests + 200

    def body(i: int) -> bytes:
        variables = {"text": f"text number {i % distinct}"}
        return json.dumps({"query": QUERY, "variables": variables}).encode()

    async with app.router.lifespan_context(app):
        for i in range(200):  # warm: caches, the first model call, the code paths
            await _request(app, body(i))
        next_index = 200

        async def client() -> None:
            nonlocal next_index
            while next_index < 200 + requests:
                i = next_index
                next_index += 1
                await _request(app, body(i))

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"cpu_us": 1e6 * cpu / requests, "wall_us": 1e6 * wall / requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    out: dict[str, dict[str, float]] = {}
    for cached in (False, True):
        for clients in (1, 64):
            name = f"{'cached' if cached else 'uncached'}, {clients} clients"
            out[name] = asyncio.run(measure(cached, clients, args.requests))
            print(f"{name}: {out[name]['cpu_us']:.0f} us CPU a request", file=sys.stderr)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
