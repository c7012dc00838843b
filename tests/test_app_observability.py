"""Observability end to end: /metrics, request ids in the logs of the API and the
worker, and the stats subscription, on a real server with the real model."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.settings import Settings
from tests.support import GraphQLWebSocket, RunningServer, free_port
from tests.test_app import gql


@pytest.fixture(scope="module")
def server(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    settings = Settings.model_validate({"port": free_port(), "max_wait_ms": 10})
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        yield http


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def unique(text: str) -> str:
    """A text no earlier test has classified (so it misses the cache)."""
    return f"{text} {uuid.uuid4().hex[:8]}"


async def test_metrics_count_operations_jobs_batches_and_the_cache(
    client: httpx.AsyncClient,
) -> None:
    text = unique("metrics make me happy")
    query = "query Mood($t: String!) { classify(text: $t) { label cached } }"
    before = await scrape(client)

    first = await gql(client, query, t=text)
    second = await gql(client, query, t=text)  # answered from the cache
    failed = await gql(client, 'query Broken { classify(text: "x", model: "nope") { label } }')
    after = await scrape(client)

    assert first["data"]["classify"]["cached"] is False
    assert second["data"]["classify"]["cached"] is True
    assert failed["errors"][0]["extensions"]["code"] == "MODEL_NOT_FOUND"

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"operation_type": "query", "operation_name": "Mood", "outcome": "ok"}
    assert grew("inferql_graphql_operations_total", **ok) == 2
    assert (
        grew(
            "inferql_graphql_operations_total",
            operation_type="query",
            operation_name="Broken",
            outcome="error",
        )
        == 1
    )
    assert (
        grew(
            "inferql_graphql_operation_duration_seconds_count",
            operation_type="query",
            operation_name="Mood",
        )
        == 2
    )
    assert grew("inferql_graphql_errors_total", code="MODEL_NOT_FOUND") == 1
    # The query names no model: the default, sentiment, whose latest version is 2.
    assert grew("inferql_jobs_submitted_total", model="sentiment@2") == 1
    assert grew("inferql_jobs_finished_total", model="sentiment@2", status="SUCCEEDED") == 1
    assert grew("inferql_job_duration_seconds_count", model="sentiment@2", status="SUCCEEDED") == 1
    assert grew("inferql_batch_size_texts_count", model="sentiment@2") == 1
    assert grew("inferql_batch_fill_ratio_count", model="sentiment@2") == 1
    assert grew("inferql_model_call_duration_seconds_count", model="sentiment@2", outcome="ok") == 1
    assert grew("inferql_cache_lookups_total", result="miss") == 1
    assert grew("inferql_cache_lookups_total", result="hit") == 1
    assert value(after, "inferql_workers_alive") == 1
    assert value(after, "inferql_queue_depth") == 0


async def test_an_operation_refused_before_it_executes_counts_as_an_error(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}
    response = await client.post("/graphql", json={"operationName": "Lost", "extensions": unknown})
    after = await scrape(client)

    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    labels = {"operation_type": "unknown", "operation_name": "Lost"}
    grew = {
        outcome: value(after, "inferql_graphql_operations_total", **labels, outcome=outcome)
        - value(before, "inferql_graphql_operations_total", **labels, outcome=outcome)
        for outcome in ("ok", "error")
    }
    assert grew == {"ok": 0, "error": 1}


async def test_open_websockets_and_subscriptions_are_counted(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    active = ("inferql_active_subscriptions", frozenset({("field", "jobEvents")}))
    sockets: tuple[str, frozenset[tuple[str, str]]] = ("inferql_websocket_connections", frozenset())
    before = await scrape(client)

    async def until(expected: tuple[float, float]) -> None:
        async with asyncio.timeout(10):
            while True:
                samples = await scrape(client)
                seen = (
                    samples.get(sockets, 0) - before.get(sockets, 0),
                    samples.get(active, 0) - before.get(active, 0),
                )
                if seen == expected:
                    return
                await asyncio.sleep(0.05)

    async with GraphQLWebSocket(server.ws_url) as ws:
        await until((1, 0))
        await ws.subscribe("all", "subscription { jobEvents { type } }")
        await until((1, 1))
    await until((0, 0))


async def test_a_request_id_is_returned_and_follows_its_job_into_the_worker(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.post(
        "/graphql",
        json={
            "query": "mutation Submit($t: [String!]!) { submitClassification(input: {texts: $t}) { id } }",
            "variables": {"t": [unique("request ids are nice")]},
        },
        headers={"X-Request-ID": "test-req-42"},
    )
    job_id = response.json()["data"]["submitClassification"]["id"]
    watched = await gql(
        client,
        "query($id: ID!) { job(id: $id) { status } }",
        id=job_id,
    )
    async with asyncio.timeout(30):
        while watched["data"]["job"]["status"] != "SUCCEEDED":
            await asyncio.sleep(0.05)
            watched = await gql(client, "query($id: ID!) { job(id: $id) { status } }", id=job_id)

    assert response.headers["x-request-id"] == "test-req-42"
    job_lines = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
    events = [(r.job_event, r.request_id, r.threadName) for r in job_lines]  # type: ignore[attr-defined]
    assert [e[0] for e in events] == ["QUEUED", "STARTED", "SUCCEEDED"]
    assert {e[1] for e in events} == {"test-req-42"}
    access = [
        r
        for r in caplog.records
        if r.name == "inferql.access" and getattr(r, "request_id", None) == "test-req-42"
    ]
    assert len(access) == 1
    assert (access[0].status_code, access[0].operation_name) == (200, "Submit")  # type: ignore[attr-defined]


async def test_at_info_a_job_logs_one_line_its_end(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    query = "query Quick($t: String!) { classify(text: $t) { label } }"
    await gql(client, query, t=unique("one line is enough"))
    failed = await gql(client, query, t="")

    assert failed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    jobs = [r for r in caplog.records if r.name == "inferql.jobs"]
    assert [(r.levelno, r.job_event) for r in jobs] == [(logging.INFO, "SUCCEEDED")]  # type: ignore[attr-defined]
    assert jobs[0].duration_ms > 0  # type: ignore[attr-defined]
    access = [r for r in caplog.records if r.name == "inferql.access"]
    assert [r.operation_name for r in access] == ["Quick", "Quick"]  # type: ignore[attr-defined]


async def test_an_unusable_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    sent = "not ok\tbecause of the tab"
    response = await client.get("/healthz", headers={"X-Request-ID": sent})
    made = response.headers["x-request-id"]
    assert made != sent and len(made) == 32 and int(made, 16) >= 0


async def test_the_stats_subscription_streams_live_figures(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    query = """subscription { stats(intervalMs: 200) {
        textsPerSecond queueDepth batches meanBatchSize latencyP50Ms latencyP95Ms workersAlive windowSeconds
        jobs { queued running succeeded failed canceled } } }"""
    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe("s", query)
        first = (await ws.receive())["payload"]["data"]["stats"]
        body = await gql(
            client,
            "query($t: [String!]!) { classifyBatch(texts: $t) { label } }",
            t=[unique("stats go up"), unique("and so do I")],
        )
        assert "errors" not in body
        async with asyncio.timeout(30):
            while True:
                stats = (await ws.receive())["payload"]["data"]["stats"]
                if stats["jobs"]["succeeded"] > first["jobs"]["succeeded"]:
                    break

    assert stats["textsPerSecond"] > 0
    assert stats["batches"] >= 1 and stats["meanBatchSize"] >= 1
    assert 0 < stats["latencyP50Ms"] <= stats["latencyP95Ms"]
    assert stats["workersAlive"] == 1 and stats["queueDepth"] == 0
    assert stats["windowSeconds"] == 60


async def test_a_stats_interval_out_of_range_is_bad_input(server: RunningServer) -> None:
    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe("s", "subscription { stats(intervalMs: 5) { queueDepth } }")
        messages = await ws.until_complete("s", timeout=5)

    errors = messages[0]["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


async def test_rate_limit_refusals_are_counted(
    model_registry: ModelRegistry, catalog: Catalog
) -> None:
    settings = Settings.model_validate(
        {"port": free_port(), "rate_limit_texts": 2, "rate_limit_window_s": 60}
    )
    with RunningServer(settings, model_registry, catalog) as limited:
        async with httpx.AsyncClient(base_url=limited.url, timeout=60) as http:
            before = await scrape(http)
            refused = await http.post(
                "/graphql",
                json={"query": '{ classifyBatch(texts: ["a", "b", "c"]) { label } }'},
            )
            after = await scrape(http)

    assert refused.status_code == 429
    grew = value(after, "inferql_rate_limited_total", limit="texts") - value(
        before, "inferql_rate_limited_total", limit="texts"
    )
    assert grew == 1
