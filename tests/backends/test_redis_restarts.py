"""Redis goes away and comes back under light load: the API refuses clearly
(UNAVAILABLE, no hang, no crash) while it is away, everything reconnects by
itself, and with the append-only file on no accepted job is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferql.backends.redis.connection import connect
from tests.processes import ApiProcess, RedisInspector, WorkerProcess
from tests.redis_server import RedisServer
from tests.support import GraphQLWebSocket

pytestmark = pytest.mark.timeout(300)

SUBMIT = """
mutation ($texts: [String!]!) { submitClassification(input: {texts: $texts}) { id } }"""
JOB = "query ($id: ID!) { job(id: $id) { status } }"
EVENTS = "subscription { jobEvents { type } }"


async def post(http: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables})
    return response.json()


async def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


def codes(body: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", ())}


async def test_every_pooled_connection_reconnects_after_a_restart(tmp_path: Path) -> None:
    """Connections opened before a restart are dead afterwards; the client's retry
    must reconnect each one instead of failing the first command sent on it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    client = connect(server.url)
    try:
        await asyncio.gather(*(client.set(f"key:{i}", i) for i in range(20)))
        assert len(client.connection_pool._available_connections) == 20
        server.kill()
        server.start()
        results = await asyncio.gather(
            *(client.get(f"key:{i}") for i in range(20)), return_exceptions=True
        )
        assert results == [None] * 20  # nothing was persisted, and nothing failed
    finally:
        await client.aclose()
        server.stop()


async def test_a_redis_restart_loses_no_accepted_job(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    flags = ["--redis-url", server.url, "--redis-prefix", "restart:"]
    api = ApiProcess(tmp_path / "api.log", *flags, "--auth", "off")  # about Redis, not keys
    worker = WorkerProcess(
        tmp_path / "worker.log", *flags, "--claim-idle-ms", "1500", "--model-threads", "1"
    )
    inspector = RedisInspector(server.url, "restart:")
    try:
        api.wait_ready()
        worker.wait_ready(inspector)
        accepted: list[str] = []
        refused: set[str] = set()
        stop_load = asyncio.Event()

        async with httpx.AsyncClient(timeout=30) as http:

            async def load() -> None:  # one small job every 50 ms
                index = 0
                while not stop_load.is_set():
                    index += 1
                    body = await post(http, api.url, SUBMIT, texts=[f"job {index} was great"])
                    if "errors" in body:
                        refused.update(codes(body))
                    else:
                        accepted.append(body["data"]["submitClassification"]["id"])
                    await asyncio.sleep(0.05)

            async with GraphQLWebSocket(api.ws_url) as ws:
                await ws.subscribe("events", EVENTS)
                loader = asyncio.create_task(load())
                await until(lambda: len(accepted) >= 10, "jobs are accepted before the restart")
                before = len(accepted)

                server.kill()  # SIGKILL: no shutdown, only what was written survives
                started = time.monotonic()
                body = await post(http, api.url, SUBMIT, texts=["while Redis is away"])
                assert time.monotonic() - started < 10, "the API hung while Redis was away"
                assert codes(body) == {"UNAVAILABLE"}
                ready = await http.get(f"{api.url}/readyz")
                assert ready.status_code == 503
                # The open subscription ends with the same clear error.
                while (message := await ws.receive(timeout=10))["type"] == "next":
                    if "errors" in message["payload"]:
                        assert codes(message["payload"]) == {"UNAVAILABLE"}
                        break
                await asyncio.sleep(1)

                server.start()
                await until(lambda: len(accepted) >= before + 10, "jobs are accepted again")
                stop_load.set()
                await loader

            async def statuses() -> list[str]:
                bodies = await asyncio.gather(*(post(http, api.url, JOB, id=i) for i in accepted))
                return [b["data"]["job"]["status"] for b in bodies]

            # Every accepted job, and every job Redis stored whose answer was lost
            # with the connection, runs to the end.
            deadline = time.monotonic() + 90
            while (
                set(current := await statuses()) != {"SUCCEEDED"}
                or (counters := inspector.counters())["succeeded"] != counters["submitted"]
            ):
                assert time.monotonic() < deadline, (current, inspector.counters())
                await asyncio.sleep(0.5)
            assert (await http.get(f"{api.url}/readyz")).status_code == 200

        assert refused <= {"UNAVAILABLE"}
        api.check_alive()
        worker.check_alive()
        assert inspector.counters()["submitted"] >= len(accepted)
        assert inspector.pending() == 0
    finally:
        api.stop()
        worker.stop()
        inspector.close()
        server.stop()
