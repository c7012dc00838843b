from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from inferql.backends import create_backend
from inferql.backends.base import Backend
from inferql.backends.redis import RedisBackend
from tests.conftest import SettingsFactory
from tests.redis_server import RedisServer

BackendFactory = Callable[..., Awaitable[Backend]]


@pytest.fixture(params=["memory", "redis"])
async def backend_named(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, redis_prefix: str
) -> AsyncIterator[BackendFactory]:
    """``await backend_named(**settings)``: a backend of each kind, one after the
    other (the contract suite runs against each), closed after the test."""
    built: list[Backend] = []
    location: dict[str, Any] = {}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        location = {"redis_url": server.url, "redis_prefix": redis_prefix}

    async def make(**settings: Any) -> Backend:
        backend = create_backend(make_settings(**location, **settings))
        built.append(backend)
        return backend

    yield make
    for backend in built:
        await backend.close()


@pytest.fixture
async def backend(backend_named: BackendFactory) -> Backend:
    return await backend_named(subscriber_buffer=4, cache_max_entries=3)


@pytest.fixture
async def redis_backend(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> AsyncIterator[RedisBackend]:
    """A Redis backend of its own key prefix, closed after the test."""
    built = create_backend(make_settings(redis_url=redis_server.url, redis_prefix=redis_prefix))
    assert isinstance(built, RedisBackend)
    yield built
    await built.close()
