from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferql.backends import create_backend
from inferql.backends.base import Backend
from tests.conftest import SettingsFactory
from tests.redis_server import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def backend(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, redis_prefix: str
) -> AsyncIterator[Backend]:
    """Every backend, one after the other: the contract suite runs against each."""
    overrides = {}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        overrides = {"redis_url": server.url, "redis_prefix": redis_prefix}
    settings = make_settings(subscriber_buffer=4, cache_max_entries=3, **overrides)
    built = create_backend(settings)
    yield built
    await built.close()
