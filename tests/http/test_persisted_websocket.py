"""Persisted queries and the document size limit over a websocket, as over
HTTP: a subscribe may name its document by hash or operation id in
``extensions``, and every refusal is an ``error`` message with its code."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferql.persisted import sha256_hex
from tests.http.conftest import ServerFactory
from tests.support import GraphQLWebSocket, RunningServer

EVENTS = "subscription Events { jobEvents { type } }"
SUBMIT = 'mutation Submit { submitClassification(input: {texts: ["hi"]}) { id } }'


def apq(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document)}}


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve(max_query_bytes=1_000)


async def subscribe(ws: GraphQLWebSocket, op_id: str, payload: dict[str, Any]) -> None:
    await ws.send({"id": op_id, "type": "subscribe", "payload": payload})


def codes(message: dict[str, Any]) -> list[str]:
    assert message["type"] == "error", message
    return [e["extensions"]["code"] for e in message["payload"]]


async def first_event(server: RunningServer, ws: GraphQLWebSocket) -> dict[str, Any]:
    """Submit a job once the subscriptions have started; the next message."""
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=server.url) as client:
        submitted = await client.post("/graphql", json={"query": SUBMIT})
    assert "errors" not in submitted.json()
    return await ws.receive(timeout=5)


async def test_apq_runs_a_subscription_by_its_hash(server: RunningServer) -> None:
    document = "subscription Registered { jobEvents { type } }"
    async with GraphQLWebSocket(server.ws_url) as ws:
        await subscribe(ws, "unknown", {"extensions": apq(document)})
        unknown = await ws.until_complete("unknown", timeout=5)
        await subscribe(ws, "register", {"query": document, "extensions": apq(document)})
        registered = await first_event(server, ws)
        await ws.send({"id": "register", "type": "complete"})
        await subscribe(ws, "by-hash", {"query": None, "extensions": apq(document)})
        by_hash = await first_event(server, ws)

    assert codes(unknown[-1]) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered["id"] == "register" and registered["type"] == "next"
    assert by_hash == {
        "id": "by-hash",
        "type": "next",
        "payload": {"data": {"jobEvents": {"type": "QUEUED"}}},
    }


async def test_the_allow_list_runs_an_operation_by_its_id(
    serve: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "operations.json"
    path.write_text(json.dumps({"events": EVENTS, "submit": SUBMIT}))
    allow_listed = serve(allowed_operations_path=str(path))
    events_by_id = {"persistedQuery": {"version": 1, "sha256Hash": "events"}}
    unknown_id = {"persistedQuery": {"version": 1, "sha256Hash": "nothing"}}
    async with GraphQLWebSocket(allow_listed.ws_url) as ws:
        await subscribe(ws, "unknown", {"extensions": unknown_id})
        refused = await ws.until_complete("unknown", timeout=5)
        await subscribe(ws, "events", {"extensions": events_by_id})
        event = await first_event(allow_listed, ws)

    assert codes(refused[-1]) == ["OPERATION_NOT_ALLOWED"]
    assert event["id"] == "events" and event["payload"] == {
        "data": {"jobEvents": {"type": "QUEUED"}}
    }


@pytest.mark.parametrize("payload", [{}, {"query": None}, {"query": None, "extensions": {}}])
async def test_no_query_and_no_persisted_query_is_a_bad_request(
    server: RunningServer, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        async with GraphQLWebSocket(server.ws_url) as ws:
            await subscribe(ws, "1", payload)
            refused = await ws.until_complete("1", timeout=5)
            await subscribe(ws, "2", {"query": EVENTS})  # the socket is still open
            await ws.send({"id": "2", "type": "complete"})

    assert codes(refused[-1]) == ["BAD_REQUEST"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_document_over_the_size_limit_is_too_complex(server: RunningServer) -> None:
    large = "subscription Large { jobEvents { type } } # " + "x" * 1_000
    async with GraphQLWebSocket(server.ws_url) as ws:
        await subscribe(ws, "1", {"query": large})
        refused = await ws.until_complete("1", timeout=5)
        await subscribe(ws, "2", {"query": large, "extensions": apq(large)})
        not_stored = await ws.until_complete("2", timeout=5)
        await subscribe(ws, "3", {"extensions": apq(large)})
        missing = await ws.until_complete("3", timeout=5)

    assert codes(refused[-1]) == codes(not_stored[-1]) == ["QUERY_TOO_COMPLEX"]
    assert refused[-1]["payload"][0]["extensions"]["maxQueryBytes"] == 1_000
    assert codes(missing[-1]) == ["PERSISTED_QUERY_NOT_FOUND"]
