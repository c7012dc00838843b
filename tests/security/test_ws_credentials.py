"""An open websocket runs as its credential only while that credential holds:
checked again before every operation, every ``ws_auth_check_s`` for an API key
(which may be revoked) and at a JWT's expiry. One that no longer holds ends the
socket's operations and closes it with 4403, as a refused ``connection_init``
is closed. Real servers, real websocket clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from inferql.backends.keyfile import FileKeyStore
from inferql.backends.redis import RedisBackend
from inferql.inference.catalog import Catalog
from inferql.security.apikeys import generate_key
from inferql.settings import Settings
from tests.redis_server import RedisServer
from tests.support import GraphQLWebSocket, RunningServer, free_port

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
ISSUER, AUDIENCE = "https://issuer.test", "inferql-tests"
SUBMIT = "mutation($t: [String!]!) { submitClassification(input: {texts: $t}) { id owner } }"
EVENTS = "subscription { jobEvents { type job { id owner } } }"
JOBS = "{ jobs(first: 100) { edges { node { id } } } }"

ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys.json"


@pytest.fixture
def store(keys_file: Path) -> FileKeyStore:
    return FileKeyStore(keys_file)


async def add_key(store: FileKeyStore, owner: str) -> tuple[str, str]:
    """A new key of ``owner``: (its id, the key)."""
    record, token = generate_key(
        f"{owner}-{time.monotonic_ns()}", owner, frozenset({"classify", "jobs"})
    )
    await store.add(record)
    return record.id, token


def token_for(sub: str, expires_in: float) -> str:
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "scope": "classify jobs"}
    return jwt.encode({**claims, "exp": int(time.time() + expires_in)}, SECRET, algorithm="HS256")


@pytest.fixture
def serve(keys_file: Path, catalog: Catalog) -> Iterator[ServerFactory]:
    """``serve(**settings)``: a real server with keys and JWTs, no worker (jobs stay queued)."""
    started: list[RunningServer] = []

    def start(**overrides: Any) -> RunningServer:
        settings = Settings.model_validate(
            {
                "port": free_port(),
                "run_worker": False,
                "api_keys_file": keys_file,
                "jwt_secret": SECRET,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "jwt_leeway_s": 0,
                **overrides,
            }
        )
        server = RunningServer(settings, None, catalog).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


async def closed_with(ws: GraphQLWebSocket, timeout: float) -> int | None:
    """The close code the server sends next (every message before it is skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.receive(timeout=timeout)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def job_count(server: RunningServer, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/graphql", json={"query": JOBS}, headers={"X-API-Key": token})
    return len(response.json()["data"]["jobs"]["edges"])


async def test_a_revoked_key_refuses_the_next_operation_on_an_open_socket(
    serve: ServerFactory, store: FileKeyStore
) -> None:
    server = serve(ws_auth_check_s=3600)  # no periodic check in time: the subscribe's own
    key_id, token = await add_key(store, "alice")
    _, other = await add_key(store, "alice")
    async with GraphQLWebSocket(server.ws_url, {"X-API-Key": token}) as ws:
        await ws.subscribe("before", SUBMIT, {"t": ["before the revocation"]})
        before = await ws.until_complete("before")
        await store.revoke(key_id)
        await ws.subscribe("after", SUBMIT, {"t": ["after the revocation"]})
        code = await closed_with(ws, timeout=10)

    assert before[0]["payload"]["data"]["submitClassification"]["owner"] == "alice"
    assert code == 4403
    assert await job_count(server, other) == 1  # the refused mutation never ran


async def test_a_revoked_key_ends_its_running_subscriptions(
    serve: ServerFactory, store: FileKeyStore
) -> None:
    server = serve(ws_auth_check_s=0.3)
    key_id, token = await add_key(store, "alice")
    _, other = await add_key(store, "alice")  # the same owner, a key that stays
    async with (
        GraphQLWebSocket(server.ws_url, {"X-API-Key": token}) as one,
        GraphQLWebSocket(server.ws_url, {"Authorization": f"Bearer {token}"}) as two,
        GraphQLWebSocket(server.ws_url, {"X-API-Key": other}) as kept,
    ):
        for ws in (one, two, kept):  # one and two share one jobEvents stream
            await ws.subscribe("events", EVENTS)
        await asyncio.sleep(0.2)
        await store.revoke(key_id)
        codes = await asyncio.gather(closed_with(one, 5), closed_with(two, 5))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            submitted = await http.post(
                "/graphql",
                json={"query": SUBMIT, "variables": {"t": ["still here"]}},
                headers={"X-API-Key": other},
            )
        seen = await kept.receive(timeout=10)

    assert list(codes) == [4403, 4403]
    job_id = submitted.json()["data"]["submitClassification"]["id"]
    assert seen["payload"]["data"]["jobEvents"]["job"] == {"id": job_id, "owner": "alice"}


async def test_an_expired_jwt_closes_its_socket(serve: ServerFactory) -> None:
    server = serve()
    async with GraphQLWebSocket(
        server.ws_url, {"Authorization": f"Bearer {token_for('bob', 1.5)}"}
    ) as ws:
        await ws.subscribe("events", EVENTS)
        started = time.monotonic()
        code = await closed_with(ws, timeout=10)

    assert code == 4403
    assert time.monotonic() - started < 5


async def test_a_shared_stream_outlives_one_of_its_callers_tokens(serve: ServerFactory) -> None:
    server = serve()
    short = {"Authorization": f"Bearer {token_for('carol', 1.5)}"}
    long = {"Authorization": f"Bearer {token_for('carol', 300)}"}
    async with (
        GraphQLWebSocket(server.ws_url, short) as expiring,
        GraphQLWebSocket(server.ws_url, long) as staying,
    ):
        for ws in (expiring, staying):  # one caller, one query: one shared stream
            await ws.subscribe("events", EVENTS)
        code = await closed_with(expiring, timeout=10)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            submitted = await http.post(
                "/graphql", json={"query": SUBMIT, "variables": {"t": ["hi"]}}, headers=long
            )
        seen = await staying.receive(timeout=10)

    assert code == 4403
    job_id = submitted.json()["data"]["submitClassification"]["id"]
    assert seen["payload"]["data"]["jobEvents"]["job"] == {"id": job_id, "owner": "carol"}


async def test_a_key_store_that_cannot_be_reached_fails_the_operation_not_the_socket(
    tmp_path: Path, catalog: Catalog
) -> None:
    # Redis away is no revocation: the new operation fails with UNAVAILABLE and
    # the socket stays open through periodic checks; once Redis is back it works.
    redis = RedisServer(tmp_path / "redis", appendonly=True)
    redis.start()
    settings = Settings.model_validate(
        {
            "port": free_port(),
            "run_worker": False,
            "redis_url": redis.url,
            "redis_prefix": "ws-credentials:",
            "ws_auth_check_s": 0.2,
        }
    )
    backend = RedisBackend(settings)
    record, token = generate_key("web", "dan", frozenset({"jobs"}))
    await backend.api_keys.add(record)
    await backend.close()
    try:
        with RunningServer(settings, None, catalog) as server:
            async with GraphQLWebSocket(server.ws_url, {"X-API-Key": token}) as ws:
                redis.kill()
                await ws.subscribe("away", "{ models { name } }")
                away = await ws.until_complete("away", timeout=15)
                await asyncio.sleep(1)  # several periodic checks that cannot reach Redis
                redis.start()
                await ws.subscribe("back", "{ models { name } }")
                back = await ws.until_complete("back", timeout=15)
    finally:
        redis.stop()

    assert away[0]["type"] == "error"
    assert [e["extensions"]["code"] for e in away[0]["payload"]] == ["UNAVAILABLE"]
    assert back[0]["type"] == "next" and back[0]["payload"]["data"]["models"]
