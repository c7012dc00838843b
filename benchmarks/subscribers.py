"""Subscribers and job submitters for the event cases, in a process of their own:
``sockets`` websockets subscribe to ``jobEvents`` (graphql-transport-ws), then
``jobs`` jobs are submitted over HTTP, and the process waits until every socket
has seen every job's terminal event.

    python -m benchmarks.subscribers --url http://127.0.0.1:8000 --sockets 1000 --jobs 5

Prints one JSON object: the time from the first submission to the last terminal
event, and each event's delivery latency (arrival here minus the time the job's
record says it happened: ``createdAt``, ``startedAt`` or ``finishedAt``, on the
same machine's clock), with this process's CPU and, given ``--server-pid``, the
server's over the same span (its websocket handshakes left out). Latencies
include this process's own lag in reading 1,000 sockets on a shared CPU: they are upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import uvloop
import websockets

from benchmarks.load import Connection, percentile
from benchmarks.procs import cpu_seconds, own_cpu_seconds
from benchmarks.texts import make_texts

SUBSCRIPTION = (
    "subscription { jobEvents { type job { id status createdAt startedAt finishedAt } } }"
)
SUBMIT = "mutation($texts: [String!]!) { submitClassification(input: {texts: $texts}) { id } }"
_WHEN = {"QUEUED": "createdAt", "STARTED": "startedAt", "SUCCEEDED": "finishedAt"}


async def subscriber(
    url: str,
    ready: asyncio.Event,
    jobs: int,
    out: list[float],
    terminal_at: dict[str, float],
) -> None:
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], max_queue=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        ready.set()
        seen: set[str] = set()
        while len(seen) < jobs:  # every job's terminal event
            message = json.loads(await ws.recv())
            now = time.time()
            if message["type"] != "next":
                continue
            event = message["payload"]["data"]["jobEvents"]
            job = event["job"]
            field = _WHEN.get(event["type"])
            if field and job[field]:
                out.append(now - datetime.fromisoformat(job[field]).timestamp())
            if event["type"] in ("SUCCEEDED", "FAILED", "CANCELED"):
                seen.add(job["id"])
                terminal_at[job["id"]] = max(terminal_at.get(job["id"], 0.0), time.monotonic())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(args.url)
    ws_url = f"ws://{parts.hostname}:{parts.port}/graphql"
    latencies: list[float] = []
    terminal_at: dict[str, float] = {}
    began = time.monotonic()
    readies = [asyncio.Event() for _ in range(args.sockets)]
    tasks: list[asyncio.Task[None]] = []
    for i in range(0, args.sockets, 50):  # connect in waves, not all at once
        wave = [
            asyncio.create_task(subscriber(ws_url, r, args.jobs, latencies, terminal_at))
            for r in readies[i : i + 50]
        ]
        tasks += wave
        await asyncio.gather(*(r.wait() for r in readies[i : i + 50]))
    connect_s = time.monotonic() - began
    await asyncio.sleep(0.5)  # let the last subscribe messages reach the server
    cpu_before = own_cpu_seconds()
    texts = make_texts(args.jobs * args.texts_per_job, seed=args.seed)
    connections = [Connection(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(8)]
    first_submit = time.monotonic()
    server_before = cpu_seconds(args.server_pid) if args.server_pid else None

    async def submit(i: int, connection: Connection) -> None:
        chunk = texts[i * args.texts_per_job : (i + 1) * args.texts_per_job]
        body = json.dumps({"query": SUBMIT, "variables": {"texts": chunk}}).encode()
        status, answer = await connection.post("/graphql", body)
        assert status == 200 and b"submitClassification" in answer, answer

    if args.spacing > 0:  # one job at a time: each event meets idle subscribers
        for i in range(args.jobs):
            await submit(i, connections[0])
            await asyncio.sleep(args.spacing)
    else:

        async def submitter(k: int) -> None:
            for i in range(k, args.jobs, len(connections)):
                await submit(i, connections[k])

        await asyncio.gather(*(submitter(k) for k in range(len(connections))))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.timeout)
    server_cpu = {}
    if server_before is not None:  # from the first submission to the last terminal event
        server_cpu["server_delivery_cpu_s"] = cpu_seconds(args.server_pid) - server_before
    for connection in connections:
        connection.close()
    return {
        "sockets": args.sockets,
        "jobs": args.jobs,
        "texts_per_job": args.texts_per_job,
        "connect_s": connect_s,
        "all_terminal_s": max(terminal_at.values()) - first_submit,
        "events_received": len(latencies),
        "delivery_p50_ms": 1000 * percentile(latencies, 0.50),
        "delivery_p99_ms": 1000 * percentile(latencies, 0.99),
        "delivery_max_ms": 1000 * max(latencies),
        "load_cpu_s": own_cpu_seconds() - cpu_before,
        **server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--sockets", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--texts-per-job", type=int, default=1)
    parser.add_argument("--spacing", type=float, default=0.0, help="seconds between jobs")
    parser.add_argument("--seed", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--server-pid", type=int, default=None, help="report its CPU")
    # On uvloop, as the load generator: reading 1,000 sockets costs this process
    # less of the cores it shares with the server, and adds less to the latencies.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(run(parser.parse_args()))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
