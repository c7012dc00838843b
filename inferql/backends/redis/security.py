"""The Redis side of security and delivery: API keys and webhook secrets, and
the webhook outbox (idempotency records are in ``idempotency``; rate limits use
the ``limits`` library's Redis storage, see ``RedisBackend``). Key names are in
``keys``.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from inferql.backends.redis.codec import dump_delivery, load_delivery
from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys
from inferql.backends.stores import WebhookDelivery
from inferql.security.apikeys import ApiKey


class RedisKeyStore:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def add(self, key: ApiKey) -> None:
        async with reaching_redis():
            await self._client.hset(self._keys.api_keys, key.id, json.dumps(key.to_json()))

    async def find(self, key_id: str) -> ApiKey | None:
        async with reaching_redis():
            data: Any = await self._client.hget(self._keys.api_keys, key_id)
        return None if data is None else ApiKey.from_json(json.loads(data))

    async def all(self) -> list[ApiKey]:
        async with reaching_redis():
            raw: Any = await self._client.hvals(self._keys.api_keys)
        return sorted((ApiKey.from_json(json.loads(d)) for d in raw), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> ApiKey | None:
        key = await self.find(key_id)
        if key is not None and key.active:
            key = key.revoked()
            await self.add(key)
        return key

    async def webhook_secret(self, owner: str) -> str | None:
        async with reaching_redis():
            secret: Any = await self._client.hget(self._keys.webhook_secrets, owner)
        return None if secret is None else str(secret)

    async def set_webhook_secret(self, owner: str, secret: str) -> None:
        async with reaching_redis():
            await self._client.hset(self._keys.webhook_secrets, owner, secret)


# KEYS: due zset, deliveries hash; ARGV: now ms, limit, lease ms.
_TAKE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local taken = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[3], id)
  local data = redis.call('HGET', KEYS[2], id)
  if data then table.insert(taken, data) else redis.call('ZREM', KEYS[1], id) end
end
return taken
"""

# KEYS: due zset, deliveries hash; ARGV: id, the delivery as JSON, due ms.
# Stores it only while it is still there: one removed (sent, by another dispatcher
# whose lease had lapsed, or dropped) stays gone. Running it twice does no harm.
_RESCHEDULE = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


class RedisWebhookOutbox:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._take = client.register_script(_TAKE)
        self._reschedule = client.register_script(_RESCHEDULE)

    async def add(self, delivery: WebhookDelivery, *, due: float) -> None:
        async with reaching_redis():
            pipe = self._client.pipeline(transaction=True)
            pipe.hsetnx(self._keys.webhooks, delivery.id, dump_delivery(delivery))
            pipe.zadd(self._keys.webhooks_due, {delivery.id: int(due * 1000)}, nx=True)
            await pipe.execute()

    async def take(self, *, now: float, limit: int, lease_s: float) -> list[WebhookDelivery]:
        async with reaching_redis():
            taken: Any = await self._take(
                keys=[self._keys.webhooks_due, self._keys.webhooks],
                args=[int(now * 1000), limit, int(lease_s * 1000)],
            )
        return [load_delivery(data) for data in taken]

    async def reschedule(self, delivery: WebhookDelivery, *, due: float) -> None:
        async with reaching_redis():
            await self._reschedule(
                keys=[self._keys.webhooks_due, self._keys.webhooks],
                args=[delivery.id, dump_delivery(delivery), int(due * 1000)],
            )

    async def remove(self, delivery_id: str) -> None:
        async with reaching_redis():
            pipe = self._client.pipeline(transaction=True)
            pipe.zrem(self._keys.webhooks_due, delivery_id)
            pipe.hdel(self._keys.webhooks, delivery_id)
            await pipe.execute()

    async def pending(self) -> int:
        async with reaching_redis():
            return int(await self._client.zcard(self._keys.webhooks_due))
