"""What only the Redis work queue shows: one acknowledgement settles many
deliveries, leaving none pending for another worker to take over; callers that
ask for the depth at once share one query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from inferql.backends import create_backend
from inferql.backends.redis import RedisBackend
from inferql.backends.redis.keys import WORKERS_GROUP
from tests.conftest import SettingsFactory
from tests.redis_server import RedisServer


@pytest.fixture
async def redis_backend(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> AsyncIterator[RedisBackend]:
    built = create_backend(make_settings(redis_url=redis_server.url, redis_prefix=redis_prefix))
    assert isinstance(built, RedisBackend)
    yield built
    await built.close()


async def test_one_ack_settles_many_deliveries(redis_backend: RedisBackend) -> None:
    for name in ("a", "b", "c", "d"):
        await redis_backend.queue.put(name)
    taken = await redis_backend.queue.take(4, timeout=1)
    assert [d.job_id for d in taken] == ["a", "b", "c", "d"]

    await redis_backend.queue.ack(*taken[:3])
    pending = await redis_backend.client.xpending(redis_backend.keys.queue, WORKERS_GROUP)
    assert pending["pending"] == 1  # only "d" is still held
    assert await redis_backend.client.xlen(redis_backend.keys.queue) == 1

    await redis_backend.queue.ack()  # nothing to settle: no round trip, no error
    await redis_backend.queue.ack(taken[3])
    pending = await redis_backend.client.xpending(redis_backend.keys.queue, WORKERS_GROUP)
    assert pending["pending"] == 0
    assert await redis_backend.client.xlen(redis_backend.keys.queue) == 0


async def _xlen_calls(backend: RedisBackend) -> int:
    stats: Any = await backend.client.info("commandstats")
    return int(stats.get("cmdstat_xlen", {}).get("calls", 0))


async def test_callers_that_ask_for_the_depth_at_once_share_one_query(
    redis_backend: RedisBackend,
) -> None:
    for name in ("a", "b", "c"):
        await redis_backend.queue.put(name)
    before = await _xlen_calls(redis_backend)
    depths = await asyncio.gather(*(redis_backend.queue.depth() for _ in range(20)))
    shared = await _xlen_calls(redis_backend) - before
    assert depths == [3] * 20
    assert shared == 1

    # One caller that gives up does not take the answer from the others.
    impatient = asyncio.create_task(redis_backend.queue.depth())
    patient = asyncio.create_task(redis_backend.queue.depth())
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await patient == 3

    await redis_backend.queue.take(1, timeout=1)  # a later question gets a new answer
    assert await redis_backend.queue.depth() == 2
