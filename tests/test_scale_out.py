"""Scale-out on real Redis: two API processes and two worker processes share one
redis-server; jobs go in through both APIs, events come out of either, and a
worker killed mid-batch costs a delay, never a job."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import ApiProcess, RedisInspector, WorkerProcess
from tests.redis_server import RedisServer
from tests.support import GraphQLWebSocket

pytestmark = pytest.mark.timeout(300)

SUBMIT = """
mutation ($texts: [String!]!) {
  submitClassification(input: {texts: $texts, model: "sentiment"}) { id status }
}"""
JOB = "query ($id: ID!) { job(id: $id) { id status predictions { label } error { code } } }"
CLASSIFY = 'query ($text: String!) { classify(text: $text, model: "sentiment") { label } }'
EVENTS = "subscription { jobEvents { type job { id status } } }"

# Short enough that a dead worker's jobs move on within the test, long enough
# that a live worker (renewing every third of it) never loses one.
CLAIM_IDLE_MS = "1500"


class Cluster:
    def __init__(self, redis_url: str, prefix: str, logs: Path) -> None:
        self.flags = ["--redis-url", redis_url, "--redis-prefix", prefix]
        self.logs = logs
        self.inspector = RedisInspector(redis_url, prefix)
        self.processes: list[ApiProcess | WorkerProcess] = []

    def api(self) -> ApiProcess:
        # About scale-out, not credentials: anonymous requests, said explicitly
        # (with Redis, authentication is on by default).
        api = ApiProcess(self.logs / f"api-{len(self.processes)}.log", *self.flags, "--auth", "off")
        self.processes.append(api)
        return api

    def worker(self) -> WorkerProcess:
        worker = WorkerProcess(
            self.logs / f"worker-{len(self.processes)}.log",
            *self.flags,
            "--claim-idle-ms",
            CLAIM_IDLE_MS,
            "--model-threads",
            "1",
        )
        self.processes.append(worker)
        return worker

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.inspector.close()


@pytest.fixture(scope="module")
def cluster(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    built = Cluster(redis_server.url, "scale-out:", tmp_path_factory.mktemp("logs"))
    yield built
    built.stop()


async def graphql(http: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def submit(http: httpx.AsyncClient, api: ApiProcess, index: int) -> str:
    texts = [f"Review {index}: the food was wonderful", f"Review {index}: a dreadful waste of time"]
    data = await graphql(http, api.url, SUBMIT, texts=texts)
    job_id: str = data["submitClassification"]["id"]
    return job_id


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


async def test_two_apis_two_workers_and_a_killed_worker_lose_nothing(cluster: Cluster) -> None:
    apis = [cluster.api(), cluster.api()]
    workers = [cluster.worker(), cluster.worker()]
    for api in apis:
        # An API replica on Redis loads no model: its readiness has no model check.
        assert api.wait_ready()["checks"] == {"backend": "ok"}
    for worker in workers:
        worker.wait_ready(cluster.inspector)

    terminal: Counter[str] = Counter()
    async with (
        httpx.AsyncClient(timeout=30) as http,
        GraphQLWebSocket(apis[0].ws_url) as ws,
    ):
        await ws.subscribe("events", EVENTS)

        async def listen() -> None:
            while True:
                message = await ws.receive(timeout=120)
                event = message["payload"]["data"]["jobEvents"]
                if event["type"] in ("SUCCEEDED", "FAILED", "CANCELED"):
                    terminal[event["job"]["id"]] += 1

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.2)  # let the subscription reach the API's event bus

        # 200 jobs, alternately through each API, 8 at a time.
        ids: list[str] = []
        for start in range(0, 200, 8):
            ids += await asyncio.gather(
                *(submit(http, apis[i % 2], i) for i in range(start, start + 8))
            )
            victim = workers[0]
            if victim.alive() and cluster.inspector.pending_by_pid().get(victim.pid, 0) > 0:
                victim.send(signal.SIGKILL)  # mid-batch: it holds jobs it has not finished
        if workers[0].alive():  # it never held a job while we submitted: kill it now
            await until(
                lambda: cluster.inspector.pending_by_pid().get(workers[0].pid, 0) > 0,
                60,
                "the first worker holds a job",
            )
            workers[0].send(signal.SIGKILL)
        workers[0].wait(timeout=10)

        await until(lambda: len(terminal) == len(ids), 180, "every job has finished")
        await asyncio.sleep(0.5)  # a second terminal event would arrive by now
        listener.cancel()

        jobs = await asyncio.gather(
            *(graphql(http, apis[1 - i % 2].url, JOB, id=job_id) for i, job_id in enumerate(ids))
        )

    assert len(set(ids)) == 200
    assert set(terminal) == set(ids)
    assert set(terminal.values()) == {1}, "a job finished more than once"
    assert {job["job"]["status"] for job in jobs} == {"SUCCEEDED"}
    assert all(len(job["job"]["predictions"]) == 2 for job in jobs)
    assert {job["job"]["predictions"][0]["label"] for job in jobs} == {"positive"}
    assert cluster.inspector.pending() == 0
    counters = cluster.inspector.counters()
    assert counters["submitted"] == 200
    assert counters["submitted"] == counters["succeeded"] + counters.get("dead_lettered", 0)
    assert cluster.inspector.dead_letters() == 0
    workers[1].check_alive()
    assert "took over" in workers[1].log.read_text(), "the dead worker's jobs were not reclaimed"


def live(cluster: Cluster, kind: type[ApiProcess | WorkerProcess]) -> list[Any]:
    return [p for p in cluster.processes if isinstance(p, kind) and p.alive()]


async def test_sigterm_lets_a_worker_finish_its_batch_and_loses_nothing(cluster: Cluster) -> None:
    others = live(cluster, WorkerProcess)
    fresh = cluster.worker()
    fresh.wait_ready(cluster.inspector)
    (api, *_) = live(cluster, ApiProcess)

    async with httpx.AsyncClient(timeout=30) as http:
        # The others paused, so that the new worker surely takes some of the jobs
        # (a worker takes as many as its model calls can run at once).
        for worker in others:
            worker.send(signal.SIGSTOP)
        try:
            ids = await asyncio.gather(*(submit(http, api, 1000 + i) for i in range(40)))
            await until(
                lambda: cluster.inspector.pending_by_pid().get(fresh.pid, 0) > 0,
                60,
                "the new worker holds a job",
            )
        finally:
            for worker in others:
                worker.send(signal.SIGCONT)
        fresh.send(signal.SIGTERM)
        assert fresh.wait(timeout=60) == 0, fresh.log_tail()
        assert cluster.inspector.pending_by_pid().get(fresh.pid, 0) == 0

        async def finished() -> list[str]:
            jobs = await asyncio.gather(*(graphql(http, api.url, JOB, id=i) for i in ids))
            return [job["job"]["status"] for job in jobs]

        deadline = time.monotonic() + 120
        while (statuses := await finished()) != ["SUCCEEDED"] * len(ids):
            assert time.monotonic() < deadline, Counter(statuses)
            await asyncio.sleep(0.2)
    assert "worker stopped" in fresh.log.read_text()


async def test_sigterm_lets_an_api_finish_its_requests(cluster: Cluster) -> None:
    (api, *_) = live(cluster, ApiProcess)

    async def classify(http: httpx.AsyncClient, index: int) -> Any:
        text = f"Request {index}: I love it, a wonderful and delightful film"
        return await graphql(http, api.url, CLASSIFY, text=text)

    workers = live(cluster, WorkerProcess)
    submitted = cluster.inspector.counters()["submitted"]
    async with httpx.AsyncClient(timeout=60) as http:
        for worker in workers:  # paused, so that every request is still in flight
            worker.send(signal.SIGSTOP)
        requests = [asyncio.create_task(classify(http, i)) for i in range(16)]
        await until(
            lambda: cluster.inspector.counters()["submitted"] == submitted + 16,
            30,
            "every request has submitted its job",
        )
        api.send(signal.SIGTERM)
        for worker in workers:
            worker.send(signal.SIGCONT)
        answers = await asyncio.gather(*requests)

    assert [a["classify"]["label"] for a in answers] == ["positive"] * 16
    assert api.wait(timeout=30) in (0, -signal.SIGTERM)
