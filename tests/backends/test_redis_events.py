"""The Redis event bus beyond the contract: a subscription it hands out is one
Redis already has, however slow the link to Redis is."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from inferql.backends.redis.codec import dump_event
from inferql.backends.redis.events import RedisEventBus
from inferql.backends.redis.keys import Keys
from inferql.jobs.model import JobEvent, JobEventType
from tests.backends.test_contract import make_job
from tests.redis_server import RedisServer
from tests.slow_link import slow_link


async def test_a_subscription_hears_what_is_published_as_soon_as_it_is_given(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    # The bus's commands reach Redis 0.3 s late; an event published on another
    # connection the moment `subscribe` returns must still reach its stream.
    keys = Keys(redis_prefix)
    event = JobEvent(JobEventType.QUEUED, make_job())
    direct = Redis.from_url(redis_server.url)
    async with slow_link(redis_server.port, delay=0.3) as port:
        slow = Redis.from_url(f"redis://127.0.0.1:{port}/0")
        bus = RedisEventBus(slow, keys, buffer=8)
        try:
            async with bus.subscribe(event.job.id) as stream:
                await direct.publish(keys.events, dump_event(event))
                async with asyncio.timeout(5):
                    heard = await anext(aiter(stream))
            assert heard == event
        finally:
            await bus.close()
            await slow.aclose()
            await direct.aclose()
