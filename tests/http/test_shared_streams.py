"""Shared subscriptions: sockets that subscribe to ``jobEvents`` with the same
document and caller share one execution of each event."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from inferql.http.shared_streams import is_shareable
from inferql.schema import job as job_types
from tests.http.conftest import ServerFactory
from tests.support import GraphQLWebSocket, RunningServer

EVENTS = "subscription { jobEvents { type job { id status } } }"
OTHER = "subscription { jobEvents { type } }"
SUBMIT = 'mutation { submitClassification(input: {texts: ["shared"]}) { id } }'


def test_only_jobevents_subscriptions_are_shared() -> None:
    assert is_shareable(EVENTS, None)
    assert is_shareable("subscription Named { jobEvents { type } }", "Named")
    assert not is_shareable("subscription Named { jobEvents { type } }", "Other")
    assert not is_shareable('subscription { job(id: "1") { type } }', None)
    assert not is_shareable("subscription { stats { queueDepth } }", None)
    assert not is_shareable("query { __typename }", None)
    assert not is_shareable("subscription {", None)
    fragment = "subscription { jobEvents { ...F } } fragment F on JobEvent { type }"
    assert not is_shareable(fragment, None)


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve()


async def first_next(ws: GraphQLWebSocket) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message["type"] == "next", message
    return message


async def test_sockets_with_one_query_and_caller_share_each_execution(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions: list[str] = []
    original = job_types.JobEvent.from_domain

    def counting(event: Any) -> job_types.JobEvent:
        executions.append(event.job.id)
        return original(event)

    monkeypatch.setattr(job_types.JobEvent, "from_domain", counting)
    sockets = [GraphQLWebSocket(server.ws_url) for _ in range(4)]
    # Each socket's own operation id, spliced around the one encoded payload.
    ids = ["1", 'a "quoted" id', "\u00fcber-7", "1"]
    for i, ws in enumerate(sockets):
        await ws.__aenter__()
        await ws.subscribe(ids[i], EVENTS if i < 3 else OTHER)
    try:
        await asyncio.sleep(0.3)  # the subscribe messages are read by the server
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/graphql", json={"query": SUBMIT})
        job_id = response.json()["data"]["submitClassification"]["id"]

        messages = [await first_next(ws) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.__aexit__()

    assert [message["id"] for message in messages] == ids
    for message in messages[:3]:
        assert message["payload"]["data"]["jobEvents"] == {
            "type": "QUEUED",
            "job": {"id": job_id, "status": "QUEUED"},
        }
    assert messages[3]["payload"]["data"]["jobEvents"] == {"type": "QUEUED"}
    # One execution for the three sockets of EVENTS, one for the socket of OTHER.
    assert executions == [job_id, job_id]
