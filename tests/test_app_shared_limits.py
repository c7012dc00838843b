"""Two API replicas on one Redis share credentials, idempotency keys and rate
limits: what one replica accepted, the other knows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferql.backends.redis import RedisBackend
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.security.apikeys import generate_key
from inferql.settings import Settings
from tests.redis_server import RedisServer
from tests.support import RunningServer, free_port

SUBMIT = """mutation($t: [String!]!, $k: String) {
  submitClassification(input: {texts: $t, idempotencyKey: $k}) { id owner }
}"""


@pytest.fixture(scope="module")
def shared(redis_server: RedisServer) -> dict[str, Any]:
    return {
        "redis_url": redis_server.url,
        "redis_prefix": "shared-limits:",
        "auth": "on",
        "rate_limit_texts": 7,
        "rate_limit_window_s": 60,
        "run_worker": False,  # jobs stay queued: this is about admission
    }


@pytest.fixture(scope="module")
def replicas(
    shared: dict[str, Any], model_registry: ModelRegistry, catalog: Catalog
) -> Iterator[tuple[RunningServer, RunningServer]]:
    one = Settings.model_validate({**shared, "port": free_port()})
    two = Settings.model_validate({**shared, "port": free_port()})
    with (
        RunningServer(one, model_registry, catalog) as a,
        RunningServer(two, model_registry, catalog) as b,
    ):
        yield a, b


async def test_replicas_share_keys_idempotency_and_rate_limits(
    shared: dict[str, Any], replicas: tuple[RunningServer, RunningServer]
) -> None:
    backend = RedisBackend(Settings.model_validate(shared))
    record, token = generate_key("shared", "zoe", frozenset({"classify", "jobs"}))
    await backend.api_keys.add(record)
    a, b = replicas
    headers = {"X-API-Key": token}

    async with httpx.AsyncClient(timeout=30) as http:

        async def post(server: RunningServer, **variables: Any) -> httpx.Response:
            return await http.post(
                f"{server.url}/graphql",
                json={"query": SUBMIT, "variables": variables},
                headers=headers,
            )

        first = await post(a, t=["one", "two", "three"], k="shared-1")
        replay = await post(b, t=["one", "two", "three"], k="shared-1")
        over = await post(b, t=["four", "five"])
        await backend.api_keys.revoke(record.id)
        revoked = await asyncio.gather(post(a, t=["x"]), post(b, t=["x"]))
    await backend.close()

    assert first.json()["data"]["submitClassification"]["owner"] == "zoe"
    assert (
        replay.json()["data"]["submitClassification"]["id"]
        == first.json()["data"]["submitClassification"]["id"]
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert over.status_code == 429  # 3 + 3 (a replay is charged too) + 2 > 7
    assert [r.status_code for r in revoked] == [401, 401]
