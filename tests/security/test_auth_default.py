"""With Redis and the default ``INFERQL_AUTH=auto``, authentication is on: keys
live in Redis (``inferql keys --redis-url``), so no setting says whether any
exist, and a server that cannot tell must not serve anonymous callers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from inferql.backends import create_backend
from inferql.backends.redis import RedisBackend
from inferql.inference.catalog import Catalog
from inferql.security.apikeys import generate_key
from inferql.security.authenticate import Authenticator
from inferql.settings import Settings
from tests.redis_server import RedisServer
from tests.support import GraphQLWebSocket, RunningServer, free_port

JOBS = "{ jobs(first: 1) { edges { node { id owner } } } }"


@pytest.fixture
def settings(redis_server: RedisServer, redis_prefix: str) -> Settings:
    # Nothing about authentication: the defaults, as `inferql serve --redis-url` gets them.
    return Settings.model_validate(
        {
            "port": free_port(),
            "redis_url": redis_server.url,
            "redis_prefix": redis_prefix,
            "run_worker": False,
        }
    )


@pytest.fixture
def server(settings: Settings, catalog: Catalog) -> Iterator[RunningServer]:
    with RunningServer(settings, None, catalog) as running:
        yield running


async def test_redis_with_default_auth_refuses_anonymous_callers(
    settings: Settings, server: RunningServer
) -> None:
    backend = RedisBackend(settings)
    record, token = generate_key("web", "acme", frozenset({"jobs"}))
    await backend.api_keys.add(record)  # what `inferql keys create --redis-url` does
    await backend.close()

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        anonymous = await http.post("/graphql", json={"query": JOBS})
        garbage = await http.post("/graphql", json={"query": JOBS}, headers={"X-API-Key": "x"})
        keyed = await http.post("/graphql", json={"query": JOBS}, headers={"X-API-Key": token})
    with pytest.raises(ConnectionClosed) as closed:
        async with GraphQLWebSocket(server.ws_url):
            pass

    assert anonymous.status_code == garbage.status_code == 401
    assert [e["extensions"]["code"] for e in anonymous.json()["errors"]] == ["UNAUTHENTICATED"]
    assert keyed.status_code == 200 and keyed.json()["data"]["jobs"]["edges"] == []
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_redis_with_no_key_made_yet_still_refuses(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        anonymous = await http.post("/graphql", json={"query": "{ models { name } }"})

    assert anonymous.status_code == 401


def test_auth_off_with_redis_is_said_loudly(caplog: pytest.LogCaptureFixture) -> None:
    keys = create_backend(Settings.model_validate({})).api_keys
    with caplog.at_level(logging.WARNING, logger="inferql.security.authenticate"):
        Authenticator(Settings.model_validate({"redis_url": "redis://x:6379/0"}), keys)
        assert not caplog.records  # on: nothing to say
        Authenticator(
            Settings.model_validate({"redis_url": "redis://x:6379/0", "auth": "off"}), keys
        )

    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "authentication is OFF" in caplog.records[0].getMessage()
