"""Idempotency records in Redis: one JSON string per (caller, key)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from inferql.backends.base import IdempotencyRecord
from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys

# KEYS: the record; ARGV: the new in-flight record, lock ms.
# Returns the existing record, or nothing when the new one was stored.
_CLAIM = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS: the record. Deletes it only while it is still in flight.
_RELEASE = """
local found = redis.call('GET', KEYS[1])
if found and not cjson.decode(found)['done'] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisIdempotencyStore:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    async def claim(
        self, owner: str, key: str, fingerprint: str, *, lock_s: float
    ) -> IdempotencyRecord | None:
        record = json.dumps({"fingerprint": fingerprint, "done": False, "job_id": None})
        async with reaching_redis():
            found = await self._claim(
                keys=[self._keys.idempotency(owner, key)], args=[record, int(lock_s * 1000)]
            )
        if not found:
            return None
        data = json.loads(found)
        return IdempotencyRecord(data["fingerprint"], bool(data["done"]), data["job_id"])

    async def complete(
        self, owner: str, key: str, job_id: str | None, *, retention_s: float
    ) -> None:
        name = self._keys.idempotency(owner, key)
        async with reaching_redis():
            found: Any = await self._client.get(name)
            if found is None:
                return
            data = {**json.loads(found), "done": True, "job_id": job_id}
            await self._client.set(name, json.dumps(data), px=int(retention_s * 1000), xx=True)

    async def release(self, owner: str, key: str) -> None:
        async with reaching_redis():
            await self._release(keys=[self._keys.idempotency(owner, key)], args=[])
