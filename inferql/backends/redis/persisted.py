"""Automatic persisted queries: one string per document hash, with a TTL that
each read renews, shared by every API replica."""

from __future__ import annotations

from redis.asyncio import Redis

from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys


class RedisPersistedQueryStore:
    def __init__(self, client: Redis, keys: Keys, *, ttl: float) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = max(1, int(ttl * 1000))

    async def get(self, sha256: str) -> str | None:
        async with reaching_redis():
            document = await self._client.getex(self._keys.persisted_query(sha256), px=self._ttl_ms)
        return None if document is None else str(document)  # the client decodes replies

    async def put(self, sha256: str, document: str) -> None:
        async with reaching_redis():
            await self._client.set(self._keys.persisted_query(sha256), document, px=self._ttl_ms)
