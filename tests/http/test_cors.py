"""Browser clients on other origins: CORS over HTTP and the Origin check of the
websocket handshake, both from ``cors_origins``."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.http.conftest import ServerFactory
from tests.support import RunningServer

APP = "https://app.example.com"
EVIL = "https://evil.example.net"


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve(cors_origins=f"{APP}, http://localhost:5173")


async def test_a_preflight_from_an_allowed_origin_is_answered(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        allowed = await client.options(
            "/graphql",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        refused = await client.options(
            "/graphql",
            headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_responses_to_an_allowed_origin_say_so(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        allowed = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP}
        )
        other = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": EVIL}
        )

    assert allowed.headers["access-control-allow-origin"] == APP
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_no_origin_is_allowed_by_default(serve: ServerFactory) -> None:
    closed = serve()
    async with httpx.AsyncClient(base_url=closed.url) as client:
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP}
        )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", [APP, None])
async def test_the_websocket_handshake_admits_allowed_origins_and_non_browsers(
    server: RunningServer, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else None
    async with connect(
        server.ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers=headers,
        origin=None,
    ) as ws:
        assert ws.subprotocol == "graphql-transport-ws"


async def test_the_websocket_handshake_refuses_other_origins(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            server.ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers={"Origin": EVIL},
        ):
            pass
    assert refused.value.response.status_code == 403
