"""The load generator, run in a process of its own so that its CPU is its own and
is reported: closed-loop clients, each with one keep-alive HTTP/1.1 connection,
sending one request as soon as the previous answer arrived.

    python -m benchmarks.load --url http://127.0.0.1:8000 --mode classify --clients 64

Modes: ``classify`` (GraphQL ``classify`` of a new text each time), ``cached``
(``classify`` of texts the server has cached), ``naive`` (the naive baseline's
``POST /classify``). Prints one JSON object. The client is a minimal asyncio
HTTP/1.1 client rather than httpx: at a thousand requests a second httpx would
need more CPU than the server, on the same two cores; it runs on uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import urlsplit

import uvloop

from benchmarks.procs import cpu_seconds, own_cpu_seconds
from benchmarks.texts import make_long_texts, make_texts

CLASSIFY = "query Classify($text: String!) { classify(text: $text) { label score } }"


class Connection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            "Content-Type: application/json\r\nAccept: application/graphql-response+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    url: str,
    mode: str,
    clients: int,
    seconds: float,
    warmup: float,
    texts: list[str],
    server_pid: int | None = None,
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = "/classify" if mode == "naive" else "/graphql"
    latencies: list[float] = []
    errors = 0
    counter = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def body_for(i: int) -> bytes:
        text = texts[i % len(texts)]
        if mode == "naive":
            return json.dumps({"text": text}).encode()
        return json.dumps({"query": CLASSIFY, "variables": {"text": text}}).encode()

    async def client() -> None:
        nonlocal counter, errors
        connection = Connection(host, port)
        try:
            while loop.time() < stop_at:
                i = counter
                counter += 1
                sent = loop.time()
                status, body = await connection.post(path, body_for(i))
                done = loop.time()
                if status != 200 or b'"errors"' in body:
                    errors += 1
                elif sent >= measure_from and done <= stop_at:
                    latencies.append(done - sent)
        finally:
            connection.close()

    # The server's CPU over the measured window only (not this process's start-up).
    server_cpu: list[float] = []
    if server_pid is not None:
        for at in (measure_from, stop_at):
            loop.call_at(at, lambda: server_cpu.append(cpu_seconds(server_pid)))
    cpu_before = own_cpu_seconds()
    await asyncio.gather(*(client() for _ in range(clients)))
    cpu = own_cpu_seconds() - cpu_before
    extra: dict[str, object] = {}
    if len(server_cpu) == 2:
        extra["server_cpu_share"] = (server_cpu[1] - server_cpu[0]) / seconds
    return {
        **extra,
        "mode": mode,
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies),
        "errors": errors,
        "throughput": len(latencies) / seconds,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "load_cpu_s": cpu,
        "load_cpu_share": cpu / (loop.time() - start),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=["classify", "cached", "naive"], default="classify")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="which texts (distinct per seed)")
    parser.add_argument("--distinct", type=int, default=200_000, help="distinct texts cycled")
    parser.add_argument("--long-every", type=int, default=0, help="every Nth text is long")
    parser.add_argument("--server-pid", type=int, default=None, help="report its CPU share")
    args = parser.parse_args()
    texts = make_texts(args.distinct, seed=args.seed)
    if args.long_every:  # mixed lengths: every Nth text has ~200 tokens
        long_texts = make_long_texts(args.distinct // args.long_every + 1, seed=args.seed)
        for n, i in enumerate(range(0, len(texts), args.long_every)):
            texts[i] = long_texts[n]
    # On uvloop (uvicorn's, so always installed): a cheaper client leaves more of
    # the shared cores to the server it measures.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(
            run(
                args.url, args.mode, args.clients, args.seconds, args.warmup, texts, args.server_pid
            )
        )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
