"""End to end: a real server on a free port, the real model, real HTTP and
websocket clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from inferql.backends.base import Delivery
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.settings import Settings
from tests.support import CountingModels, GraphQLWebSocket, RunningServer, free_port


@pytest.fixture(scope="module")
def server(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    settings = Settings.model_validate({"port": free_port(), "max_wait_ms": 10})
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        yield http


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_classify_over_http_with_the_real_model(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        """{
          love: classify(text: "I love this") { label score scores { label score } model { name version } head cached truncated }
          zeroShot: classify(text: "I love this", model: "sentiment@1") { label model { version } head }
          awful: classify(text: "this is awful") { label }
          news: classify(text: "Stocks tumble as the central bank raises interest rates", model: "topic@1") { label }
        }""",
    )
    assert "errors" not in body, body
    love = body["data"]["love"]
    assert love["label"] == "positive"
    assert love["model"] == {"name": "sentiment", "version": "2"}
    assert love["head"] == "LINEAR"
    assert body["data"]["zeroShot"] == {
        "label": "positive",
        "model": {"version": "1"},
        "head": "ZERO_SHOT",
    }
    assert {s["label"] for s in love["scores"]} == {"positive", "negative"}
    assert abs(sum(s["score"] for s in love["scores"]) - 1) < 1e-4
    assert love["score"] == max(s["score"] for s in love["scores"])
    assert body["data"]["awful"]["label"] == "negative"
    assert body["data"]["news"]["label"] == "business"


async def test_a_long_text_is_truncated_and_says_so(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "query($t: String!) { classify(text: $t) { truncated } }",
        t="this film was wonderful and " * 80,
    )
    assert body["data"]["classify"]["truncated"] is True


async def test_models_lists_the_built_in_classifiers(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "{ models { name head labels versions { version head metrics { accuracy } }"
        " latest { ref { name version } } metrics { accuracy validationSize perLabel { label support } } } }",
    )
    models = {m["name"]: m for m in body["data"]["models"]}
    assert set(models["topic"]["labels"]) == {"world", "sports", "business", "science/technology"}
    assert models["topic"]["metrics"] is None
    sentiment = models["sentiment"]
    assert sentiment["head"] == "LINEAR"
    assert sentiment["latest"]["ref"] == {"name": "sentiment", "version": "2"}
    assert [(v["version"], v["head"]) for v in sentiment["versions"]] == [
        ("1", "ZERO_SHOT"),
        ("2", "LINEAR"),
    ]
    assert sentiment["versions"][0]["metrics"] is None
    assert sentiment["versions"][1]["metrics"] == {"accuracy": sentiment["metrics"]["accuracy"]}
    for name in ("sentiment", "intent"):
        metrics = models[name]["metrics"]
        assert metrics["accuracy"] > 0.75
        assert sum(m["support"] for m in metrics["perLabel"]) == metrics["validationSize"]
    assert len(models["intent"]["labels"]) == 77


async def test_submit_then_fetch_and_page_through_jobs(client: httpx.AsyncClient) -> None:
    submitted = await gql(
        client,
        'mutation { submitClassification(input: {texts: ["great movie", "terrible service"]}) { id status progress { total } } }',
    )
    job = submitted["data"]["submitClassification"]
    assert job["status"] in ("QUEUED", "SUCCEEDED")
    assert job["progress"]["total"] == 2

    for _ in range(200):
        fetched = await gql(
            client,
            "query($id: ID!) { job(id: $id) { status finishedAt predictions { label } } }",
            id=job["id"],
        )
        if fetched["data"]["job"]["status"] == "SUCCEEDED":
            break
        await asyncio.sleep(0.05)
    assert [p["label"] for p in fetched["data"]["job"]["predictions"]] == ["positive", "negative"]

    page = await gql(
        client,
        "{ jobs(first: 1) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
    )
    connection = page["data"]["jobs"]
    assert connection["edges"][0]["node"]["id"] == job["id"]
    assert connection["pageInfo"]["endCursor"] == connection["edges"][0]["cursor"]


async def test_the_job_subscription_streams_to_the_end(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    submitted = await gql(
        client,
        'mutation { submitClassification(input: {texts: ["what a lovely day", "I hate waiting"]}) { id } }',
    )
    job_id = submitted["data"]["submitClassification"]["id"]
    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe(
            "1",
            "subscription($id: ID!) { job(id: $id) { type job { status predictions { label } } } }",
            {"id": job_id},
        )
        messages = await ws.until_complete("1")

    events = [m["payload"]["data"]["job"] for m in messages if m["type"] == "next"]
    assert messages[-1]["type"] == "complete"
    assert events[-1]["type"] == "SUCCEEDED"
    assert [p["label"] for p in events[-1]["job"]["predictions"]] == ["positive", "negative"]
    assert all(e["type"] in ("QUEUED", "STARTED", "PROGRESS") for e in events[:-1])


async def test_subscribing_after_the_end_gets_the_final_state_at_once(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    body = await gql(client, '{ classifyBatch(texts: ["fine"]) { label } }')
    assert "errors" not in body
    page = await gql(client, "{ jobs(first: 1, status: SUCCEEDED) { edges { node { id } } } }")
    job_id = page["data"]["jobs"]["edges"][0]["node"]["id"]

    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe("f", "subscription($id: ID!) { job(id: $id) { type } }", {"id": job_id})
        messages = await ws.until_complete("f", timeout=5)

    assert [m["type"] for m in messages] == ["next", "complete"]
    assert messages[0]["payload"]["data"]["job"]["type"] == "SUCCEEDED"


async def test_the_job_subscription_of_an_unknown_job_is_not_found(server: RunningServer) -> None:
    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe("x", 'subscription { job(id: "01NOSUCHJOB") { type } }')
        messages = await ws.until_complete("x", timeout=5)

    assert [m["type"] for m in messages] == ["next", "complete"]
    errors = messages[0]["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]


async def test_job_events_streams_every_job(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    async with GraphQLWebSocket(server.ws_url) as ws:
        await ws.subscribe("all", "subscription { jobEvents { type job { id } } }")
        await asyncio.sleep(0.2)  # let the subscription start before the job exists
        submitted = await gql(
            client, 'mutation { submitClassification(input: {texts: ["events please"]}) { id } }'
        )
        job_id = submitted["data"]["submitClassification"]["id"]
        types: list[str] = []
        while "SUCCEEDED" not in types:
            message = await ws.receive()
            event = message["payload"]["data"]["jobEvents"]
            if event["job"]["id"] == job_id:
                types.append(event["type"])

    assert types == ["QUEUED", "STARTED", "SUCCEEDED"]


async def test_graphiql_health_and_readiness(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    health = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"backend": "ok", "model": "loaded", "worker": "running"}


async def test_bad_input_over_http_names_its_code(client: httpx.AsyncClient) -> None:
    body = await gql(client, '{ classify(text: "hi", model: "nope") { label } }')
    assert body["errors"][0]["extensions"]["code"] == "MODEL_NOT_FOUND"
    assert body["data"] is None


async def test_a_worker_loop_that_dies_is_logged_and_makes_the_process_not_ready(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.model_validate({"port": free_port()})
    running = RunningServer(settings, CountingModels(), catalog)

    async def broken_take(limit: int, timeout: float) -> list[Delivery]:
        raise RuntimeError("the queue broke (injected)")

    runtime = running.app.state.runtime
    runtime.backend.queue.take = broken_take
    with running, caplog.at_level(logging.ERROR, logger="inferql.app"):
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            for _ in range(200):  # the loop dies on its first take, soon after start
                ready = await http.get("/readyz")
                if ready.json()["checks"].get("worker") == "stopped":
                    break
                await asyncio.sleep(0.05)

    assert ready.status_code == 503 and ready.json()["status"] == "not ready"
    assert any("the worker stopped" in r.getMessage() for r in caplog.records)
