"""graphql-transport-ws over a real websocket: the protocol's close codes, the
server's pings, and compression only when asked for."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.http.conftest import ServerFactory
from tests.support import GraphQLWebSocket, RunningServer

EVENTS = "subscription { jobEvents { type } }"


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve(ws_init_timeout_s=0.5, ws_keep_alive_s=0.1)


async def open_socket(server: RunningServer) -> ClientConnection:
    return await connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10
    )


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[ClientConnection]:
    connection = await open_socket(server)
    yield connection
    await connection.close()


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def init(ws: ClientConnection) -> None:
    await send(ws, {"type": "connection_init", "payload": {}})
    assert (await receive(ws))["type"] == "connection_ack"


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    return ws.close_code


async def test_a_message_that_is_not_json_closes_4400(ws: ClientConnection) -> None:
    await init(ws)
    await ws.send("not json")
    assert await closed_with(ws) == 4400


MALFORMED: list[object] = [
    [],
    "subscribe",
    5,
    {"id": "1"},
    {"type": "subscribe", "id": "1", "payload": None},
    {"type": "subscribe", "id": "1", "payload": "{ __typename }"},
    {"type": "subscribe", "id": {}, "payload": {"query": EVENTS}},
    {"type": "subscribe", "id": "1", "payload": {"query": 5}},
    {"type": "subscribe", "id": "1", "payload": {"query": EVENTS, "variables": []}},
    {"type": "subscribe", "id": "1", "payload": {"query": EVENTS, "operationName": 5}},
    {"type": "complete", "id": ["1"]},
]


@pytest.mark.parametrize("message", MALFORMED, ids=[json.dumps(m) for m in MALFORMED])
async def test_a_message_of_the_wrong_shape_closes_4400(
    ws: ClientConnection, message: object
) -> None:
    await init(ws)
    await ws.send(json.dumps(message))
    assert await closed_with(ws) == 4400


async def test_the_legacy_graphql_ws_protocol_is_refused_4406(server: RunningServer) -> None:
    """Only graphql-transport-ws: a client of the legacy `graphql-ws` protocol
    learns so at once, not from a socket that half works."""
    async with connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=10
    ) as legacy:
        assert await closed_with(legacy) == 4406


async def test_subscribing_before_the_ack_closes_4401(ws: ClientConnection) -> None:
    await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
    assert await closed_with(ws) == 4401


async def test_no_connection_init_in_time_closes_4408(ws: ClientConnection) -> None:
    assert await closed_with(ws) == 4408


async def test_a_duplicate_operation_id_closes_4409(ws: ClientConnection) -> None:
    await init(ws)
    subscribe = {"id": "same", "type": "subscribe", "payload": {"query": EVENTS}}
    await send(ws, subscribe)
    await send(ws, subscribe)
    assert await closed_with(ws) == 4409


async def test_a_second_connection_init_closes_4429(ws: ClientConnection) -> None:
    await init(ws)
    await send(ws, {"type": "connection_init", "payload": {}})
    assert await closed_with(ws) == 4429


async def test_the_server_pings_an_idle_socket(ws: ClientConnection) -> None:
    await init(ws)
    assert await receive(ws) == {"type": "ping"}
    await send(ws, {"type": "pong"})
    assert await receive(ws) == {"type": "ping"}


async def test_no_pings_when_switched_off(serve: ServerFactory) -> None:
    quiet = serve(ws_keep_alive_s=0)
    ws = await open_socket(quiet)
    try:
        await init(ws)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)
    finally:
        await ws.close()


async def test_messages_are_not_compressed_unless_the_settings_say_so(
    serve: ServerFactory,
) -> None:
    # The client offers permessage-deflate (websockets does by default, as browsers do).
    plain = await open_socket(serve())
    compressing = await open_socket(serve(ws_compression=True))
    try:
        assert plain.response is not None and compressing.response is not None
        assert "Sec-WebSocket-Extensions" not in plain.response.headers
        accepted = compressing.response.headers["Sec-WebSocket-Extensions"]
        assert accepted.startswith("permessage-deflate")
        for ws in (plain, compressing):
            await init(ws)
            await send(ws, {"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
    finally:
        await plain.close()
        await compressing.close()


async def test_a_subscription_streams_between_pings(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        submitted = await http.post(
            "/graphql",
            json={"query": 'mutation { submitClassification(input: {texts: ["hi"]}) { id } }'},
        )
    job_id = submitted.json()["data"]["submitClassification"]["id"]

    async with GraphQLWebSocket(server.ws_url) as client:  # answers every ping
        await asyncio.sleep(0.35)  # a few pings go by first
        await client.subscribe(
            "job", "subscription($id: ID!) { job(id: $id) { type job { id } } }", {"id": job_id}
        )
        first = await client.receive(timeout=5)

    assert first["type"] == "next"
    assert first["payload"]["data"]["job"] == {"type": "QUEUED", "job": {"id": job_id}}


async def test_a_subscribe_beyond_the_sockets_limit_gets_a_coded_error(
    ws: ClientConnection,
) -> None:
    await init(ws)
    for i in range(100):
        await send(ws, {"id": str(i), "type": "subscribe", "payload": {"query": EVENTS}})
    await send(ws, {"id": "one too many", "type": "subscribe", "payload": {"query": EVENTS}})

    reply = await receive(ws)
    while reply["type"] == "ping":
        reply = await receive(ws)
    assert reply["type"] == "error" and reply["id"] == "one too many"
    [error] = reply["payload"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "limit": 100}
    await send(ws, {"id": "0", "type": "complete"})
    await send(ws, {"id": "room again", "type": "subscribe", "payload": {"query": EVENTS}})
    await send(ws, {"type": "ping"})
    reply = await receive(ws)
    while reply["type"] == "ping":
        reply = await receive(ws)
    assert reply == {"type": "pong"}  # no error for the subscription that fits


async def test_an_unknown_operation_name_closes_4400_and_is_no_server_error(
    ws: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    await init(ws)
    payload = {"query": "subscription A { jobEvents { type } }", "operationName": "B"}
    with caplog.at_level(logging.ERROR):
        await send(ws, {"id": "1", "type": "subscribe", "payload": payload})
        assert await closed_with(ws) == 4400

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
