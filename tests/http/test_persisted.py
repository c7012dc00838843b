"""Automatic persisted queries as Apollo Client runs them, and the allow-list
of production, against a running server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferql.persisted import sha256_hex
from tests.http.conftest import ServerFactory
from tests.support import GraphQLWebSocket, RunningServer

MODELS = "query Models { models { name } }"
SUBMIT = 'mutation Submit { submitClassification(input: {texts: ["hi"]}) { id } }'
NOT_CACHED = "private, no-cache, must-revalidate"


def apq(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document)}}


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


async def test_the_apq_round_trip(client: httpx.AsyncClient) -> None:
    document = "query Topics { models { name labels } }"
    # 1. The hash alone: unknown, and the answer must not be cached.
    missing = await client.post("/graphql", json={"extensions": apq(document)})
    # 2. Apollo Client retries with the query and the hash: it runs and is stored.
    registered = await client.post(
        "/graphql", json={"query": document, "extensions": apq(document)}
    )
    # 3. From now on the hash alone runs it, over GET too (CDN-cacheable).
    by_post = await client.post("/graphql", json={"extensions": apq(document)})
    by_get = await client.get(
        "/graphql",
        params={"extensions": json.dumps(apq(document))},
        headers={"Accept": "*/*"},
    )

    assert missing.status_code == 404
    assert codes(missing) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert missing.headers["cache-control"] == NOT_CACHED
    assert registered.status_code == 200 and "errors" not in registered.json()
    assert by_post.json() == registered.json()
    assert by_get.status_code == 200 and by_get.json() == registered.json()


async def test_a_legacy_json_client_gets_not_found_with_200(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"extensions": apq("{ __typename __typename }")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_document_that_does_not_validate_is_not_stored(client: httpx.AsyncClient) -> None:
    document = "{ nosuchfield }"
    invalid = await client.post("/graphql", json={"query": document, "extensions": apq(document)})
    again = await client.post("/graphql", json={"extensions": apq(document)})

    assert codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_hash_that_does_not_match_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": MODELS, "extensions": apq("{ __typename }")}
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


async def test_with_apq_off_a_hash_is_not_supported(serve: ServerFactory) -> None:
    server = serve(apq=False)
    async with httpx.AsyncClient(base_url=server.url) as client:
        with_hash = await client.post(
            "/graphql",
            json={"query": MODELS, "extensions": apq(MODELS)},
            headers={"Accept": "application/json"},
        )
        plain = await client.post("/graphql", json={"query": MODELS})

    assert with_hash.status_code == 200
    assert codes(with_hash) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
    assert plain.status_code == 200 and "errors" not in plain.json()


async def test_a_document_over_the_size_limit_is_refused_and_not_stored(
    serve: ServerFactory,
) -> None:
    server = serve(max_query_bytes=1_000)
    large = '{ job(id: "' + "x" * 1_000 + '") { id } }'  # one token, sends no texts
    async with httpx.AsyncClient(base_url=server.url) as client:
        refused = await client.post("/graphql", json={"query": large})
        legacy = await client.post(
            "/graphql", json={"query": large}, headers={"Accept": "application/json"}
        )
        registered = await client.post("/graphql", json={"query": large, "extensions": apq(large)})
        by_hash = await client.post("/graphql", json={"extensions": apq(large)})

    assert refused.status_code == 400 and codes(refused) == ["QUERY_TOO_COMPLEX"]
    assert refused.json()["errors"][0]["extensions"]["maxQueryBytes"] == 1_000
    assert "data" not in refused.json()
    assert legacy.status_code == 200 and codes(legacy) == ["QUERY_TOO_COMPLEX"]
    assert codes(registered) == ["QUERY_TOO_COMPLEX"]
    assert codes(by_hash) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.fixture(scope="module")
def allow_listed(serve: ServerFactory, tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256_hex(MODELS), "body": MODELS, "name": "Models", "type": "query"},
            {"id": "submit", "body": SUBMIT, "name": "Submit", "type": "mutation"},
            {
                "id": "job-events",
                "body": "subscription Events { jobEvents { type } }",
                "name": "Events",
                "type": "subscription",
            },
        ],
    }
    path: Path = tmp_path_factory.mktemp("ops") / "manifest.json"
    path.write_text(json.dumps(manifest))
    return serve(allowed_operations_path=str(path))


async def test_the_allow_list_runs_registered_operations_only(allow_listed: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=allow_listed.url) as client:
        by_id = await client.post("/graphql", json={"extensions": apq(MODELS)})
        in_full = await client.post("/graphql", json={"query": MODELS})
        other = await client.post("/graphql", json={"query": "{ models { name } }"})
        other_legacy = await client.post(
            "/graphql",
            json={"query": "{ models { name } }"},
            headers={"Accept": "application/json"},
        )
        unknown_id = await client.post("/graphql", json={"extensions": apq("{ __typename }")})

    assert by_id.status_code == 200 and by_id.json() == in_full.json()
    assert {m["name"] for m in by_id.json()["data"]["models"]} >= {"sentiment", "topic"}
    assert other.status_code == 403 and codes(other) == ["OPERATION_NOT_ALLOWED"]
    assert other_legacy.status_code == 200 and codes(other_legacy) == ["OPERATION_NOT_ALLOWED"]
    assert unknown_id.status_code == 403 and codes(unknown_id) == ["OPERATION_NOT_ALLOWED"]


async def test_the_allow_list_holds_for_subscriptions(allow_listed: RunningServer) -> None:
    async with GraphQLWebSocket(allow_listed.ws_url) as ws:
        await ws.subscribe("no", "subscription { jobEvents { type job { id } } }")
        refused = await ws.until_complete("no", timeout=5)
        await ws.subscribe("yes", "subscription Events { jobEvents { type } }")
        await asyncio.sleep(0.2)  # let the subscription start before the job exists
        async with httpx.AsyncClient(base_url=allow_listed.url) as client:
            submitted = await client.post("/graphql", json={"query": SUBMIT})
        event = await ws.receive(timeout=5)

    assert refused[-1]["type"] == "error"
    assert [e["extensions"]["code"] for e in refused[-1]["payload"]] == ["OPERATION_NOT_ALLOWED"]
    assert "errors" not in submitted.json()
    assert event == {
        "id": "yes",
        "type": "next",
        "payload": {"data": {"jobEvents": {"type": "QUEUED"}}},
    }
