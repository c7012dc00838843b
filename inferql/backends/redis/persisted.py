"""Automatic persisted queries, shared by every API replica, in a bounded store.

Anyone may register a document (one that validates, and no larger than
``max_query_bytes``), so the store must not grow with what clients send: a
key per document with a week's TTL let a flood of distinct documents fill
Redis, which under ``noeviction`` refuses every write after that, jobs
included. So the documents live in one hash, their hashes in a sorted set by
last use, and their total size in a counter; the put script drops the least
recently used until at most ``max_entries`` documents of at most ``max_bytes``
remain, and the documents unused for ``ttl`` (64 per put; a read treats a
lapsed one as missing). Both scripts run as one step on the server, on its
clock, so replicas never disagree about the order. A flood can then at worst
evict the documents of legitimate clients, which send them again (APQ's
PERSISTED_QUERY_NOT_FOUND round trip); it cannot take more than ``max_bytes``.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys

# Microseconds now, on the server's clock, as a last use: later than every
# other (uses within one microsecond must not tie: ties sort by hash, not use).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local latest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
local use = string.format('%d', math.max(now, (tonumber(latest) or 0) + 1))
"""

# Forget one document: its text, its use and its bytes.
_DROP = """
local function drop(sha)
  redis.call('DECRBY', KEYS[3], redis.call('HSTRLEN', KEYS[1], sha))
  redis.call('HDEL', KEYS[1], sha)
  redis.call('ZREM', KEYS[2], sha)
end
"""

# KEYS: documents, used, bytes; ARGV: hash, ttl ms. The document, its use renewed.
GET = (
    _NOW
    + _DROP
    + """
local document = redis.call('HGET', KEYS[1], ARGV[1])
if not document then return false end
local used = redis.call('ZSCORE', KEYS[2], ARGV[1])
if used and tonumber(used) < now - tonumber(ARGV[2]) * 1000 then
  drop(ARGV[1])
  return false
end
redis.call('ZADD', KEYS[2], use, ARGV[1])
return document
"""
)

# KEYS: documents, used, bytes; ARGV: hash, document, ttl ms, max entries, max bytes.
PUT = (
    _NOW
    + _DROP
    + """
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
if string.len(ARGV[2]) > max_bytes then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
local before = redis.call('HSTRLEN', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[3], string.len(ARGV[2]) - before)
redis.call('ZADD', KEYS[2], use, ARGV[1])
local lapsed = string.format('(%d', now - tonumber(ARGV[3]) * 1000)
for _, sha in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', lapsed, 'LIMIT', 0, 64)) do
  drop(sha)
end
while redis.call('ZCARD', KEYS[2]) > max_entries
    or tonumber(redis.call('GET', KEYS[3]) or '0') > max_bytes do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then  -- documents without their index: start over
    redis.call('DEL', KEYS[1], KEYS[3])
    break
  end
  drop(oldest)
end
return 1
"""
)


class RedisPersistedQueryStore:
    def __init__(
        self, client: Redis, keys: Keys, *, ttl: float, max_entries: int, max_bytes: int
    ) -> None:
        self._client = client
        self._keys = (
            keys.persisted_queries,
            keys.persisted_queries_used,
            keys.persisted_queries_bytes,
        )
        self._ttl_ms = max(1, int(ttl * 1000))
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._get = client.register_script(GET)
        self._put = client.register_script(PUT)

    async def get(self, sha256: str) -> str | None:
        async with reaching_redis():
            document: Any = await self._get(keys=self._keys, args=[sha256, self._ttl_ms])
        return None if document is None else str(document)  # the client decodes replies

    async def put(self, sha256: str, document: str) -> None:
        args: list[str | int] = [sha256, document, self._ttl_ms, self._max_entries, self._max_bytes]
        async with reaching_redis():
            await self._put(keys=self._keys, args=args)
