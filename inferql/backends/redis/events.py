"""Job events over Redis pub/sub: every event goes to one channel, and each
process listens on ONE connection and fans events out to its own subscribers.

A subscriber exists only while its listener is connected: if the connection
drops, every open subscription ends with UNAVAILABLE (events may have been
missed; the client subscribes again and gets the job's current state first),
and the listener reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from inferql.backends.base import EventStream
from inferql.backends.fanout import Fanout
from inferql.backends.redis.codec import dump_event, load_event
from inferql.backends.redis.connection import CONNECTION_ERRORS, reaching_redis
from inferql.backends.redis.keys import Keys
from inferql.errors import UnavailableError
from inferql.jobs.model import JobEvent

logger = logging.getLogger(__name__)

_CONNECT_WAIT_S = 2.0
_RECONNECT_MAX_S = 2.0


class RedisEventBus:
    def __init__(self, client: Redis, keys: Keys, *, buffer: int) -> None:
        self._client = client
        self._channel = keys.events
        self._fanout = Fanout(buffer=buffer)
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    async def publish(self, event: JobEvent) -> None:
        async with reaching_redis():
            await self._client.publish(self._channel, dump_event(event))

    @asynccontextmanager
    async def subscribe(self, job_id: str | None = None) -> AsyncIterator[EventStream]:
        await self._listening_now()
        async with self._fanout.subscribe(job_id) as stream:
            yield stream

    @asynccontextmanager
    async def ending(self, job_id: str) -> AsyncIterator[Awaitable[JobEvent]]:
        await self._listening_now()
        async with self._fanout.ending(job_id) as ended:
            yield ended

    async def _listening_now(self) -> None:
        """Start the one subscription if need be; wait until it listens."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="inferql-events")
        try:
            async with asyncio.timeout(_CONNECT_WAIT_S):
                await self._listening.wait()
        except TimeoutError:
            raise UnavailableError("Job events (Redis) cannot be reached; retry shortly.") from None

    async def close(self) -> None:
        # redis-py may turn a cancellation inside a read into a connection error,
        # so the loop also checks the flag.
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._fanout.end_all()

    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closed:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._fanout.deliver(load_event(message["data"]))
                    elif message["type"] == "subscribe":
                        # Listening once Redis confirms it: `subscribe` only sent it.
                        self._listening.set()
                        backoff = 0.05
            except CONNECTION_ERRORS:
                if self._closed:
                    return
                if self._listening.is_set():
                    logger.warning("lost the Redis event subscription; reconnecting")
                self._listening.clear()
                self._fanout.end_all(
                    UnavailableError("The job event stream was interrupted; subscribe again.")
                )
            finally:
                with contextlib.suppress(*CONNECTION_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RECONNECT_MAX_S)
