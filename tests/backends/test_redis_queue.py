"""What only the Redis work queue shows: one acknowledgement settles many
deliveries, leaving none pending for another worker to take over."""

from __future__ import annotations

from inferql.backends import create_backend
from inferql.backends.redis import RedisBackend
from inferql.backends.redis.keys import WORKERS_GROUP
from tests.conftest import SettingsFactory
from tests.redis_server import RedisServer


async def test_one_ack_settles_many_deliveries(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    backend = create_backend(make_settings(redis_url=redis_server.url, redis_prefix=redis_prefix))
    assert isinstance(backend, RedisBackend)
    try:
        for name in ("a", "b", "c", "d"):
            await backend.queue.put(name)
        taken = await backend.queue.take(4, timeout=1)
        assert [d.job_id for d in taken] == ["a", "b", "c", "d"]

        await backend.queue.ack(*taken[:3])
        pending = await backend.client.xpending(backend.keys.queue, WORKERS_GROUP)
        assert pending["pending"] == 1  # only "d" is still held
        assert await backend.client.xlen(backend.keys.queue) == 1

        await backend.queue.ack()  # nothing to settle: no round trip, no error
        await backend.queue.ack(taken[3])
        pending = await backend.client.xpending(backend.keys.queue, WORKERS_GROUP)
        assert pending["pending"] == 0
        assert await backend.client.xlen(backend.keys.queue) == 0
    finally:
        await backend.close()
