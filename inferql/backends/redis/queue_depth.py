"""The work queue's depth: entries no worker holds yet (the stream's length less
its pending entries), asked for by admission on every request that sends texts.

Callers that ask while a query is out share its answer, so at many clients most
of them make no round trip of their own; a caller that gives up does not cancel
the query.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import WORKERS_GROUP, Keys


def no_group(error: Exception) -> bool:
    """Whether ``error`` is Redis saying the stream has no consumer group (yet)."""
    return isinstance(error, ResponseError) and str(error).startswith("NOGROUP")


class SharedDepth:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._query: asyncio.Task[int] | None = None

    async def __call__(self) -> int:
        if self._query is None:
            self._query = asyncio.create_task(self._ask(), name="inferql-depth")
            self._query.add_done_callback(self._answered)
        return await asyncio.shield(self._query)

    def _answered(self, query: asyncio.Task[int]) -> None:
        if self._query is query:
            self._query = None
        if not query.cancelled():
            query.exception()  # retrieved, should every caller have given up

    async def _ask(self) -> int:
        pipe = self._client.pipeline(transaction=False)
        pipe.xlen(self._keys.queue)
        pipe.xpending(self._keys.queue, WORKERS_GROUP)
        async with reaching_redis():
            length, pending = await pipe.execute(raise_on_error=False)
            for result in (length, pending):
                if isinstance(result, Exception) and not no_group(result):
                    raise result
        if isinstance(pending, Exception):  # no group yet: nothing is pending
            return int(length)
        return int(length) - int(pending["pending"])
