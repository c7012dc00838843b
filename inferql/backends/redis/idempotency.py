"""Idempotency records in Redis: one JSON string per (caller, key), kept for the
retention period, with the in-flight lock's deadline inside it (server time,
ms), so a lapsed lock leaves the record, and its job id, for the next claim to
settle. Each script can run twice with the same arguments and change nothing
the second time: redis-py sends a command again when its reply is lost.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.keys import Keys
from inferql.backends.stores import IdempotencyRecord

# Server time in ms, and whether a decoded record is in flight with its lock on.
# A record without a deadline (written before deadlines were) is locked until
# its own expiry, as it was then.
_CLOCK = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function locked(record)
  if record['done'] then return false end
  local deadline = record['locked_until']
  return deadline == nil or tonumber(deadline) > now
end
local function store(key, fingerprint, job_id, holder, lock_ms, retention_ms)
  local record = {fingerprint = fingerprint, done = false, job_id = job_id,
                  holder = holder, locked_until = now + tonumber(lock_ms)}
  redis.call('SET', key, cjson.encode(record), 'PX', retention_ms)
end
"""

# KEYS: the record; ARGV: fingerprint, job id, holder, lock ms, retention ms.
# Returns nothing when the record is stored (or was, by this holder), else the
# existing record and 1 if it is locked, 0 if not.
_CLAIM = (
    _CLOCK
    + """
local found = redis.call('GET', KEYS[1])
if found then
  local record = cjson.decode(found)
  if record['holder'] == ARGV[3] then return false end  -- sent again
  return {found, locked(record) and 1 or 0}
end
store(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return false
"""
)

# KEYS: the record; ARGV: previous holder, fingerprint, job id, holder, lock ms,
# retention ms. Returns 1 when the record is (now) this holder's, else 0.
_TAKE_OVER = (
    _CLOCK
    + """
local found = redis.call('GET', KEYS[1])
if not found then return 0 end
local record = cjson.decode(found)
if record['done'] then return 0 end
if record['holder'] == ARGV[4] then return 1 end  -- sent again
if record['holder'] ~= ARGV[1] or locked(record) then return 0 end
store(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

# KEYS: the record; ARGV: holder, job id ("": none), retention ms.
_COMPLETE = """
local found = redis.call('GET', KEYS[1])
if not found then return 0 end
local record = cjson.decode(found)
if record['holder'] ~= ARGV[1] or record['done'] then return 0 end
record['done'] = true
if ARGV[2] == '' then record['job_id'] = cjson.null else record['job_id'] = ARGV[2] end
redis.call('SET', KEYS[1], cjson.encode(record), 'PX', ARGV[3])
return 1
"""

# KEYS: the record; ARGV: holder. Lapses the holder's lock; keeps the record.
_RELEASE = """
local found = redis.call('GET', KEYS[1])
if not found then return 0 end
local record = cjson.decode(found)
if record['holder'] ~= ARGV[1] or record['done'] then return 0 end
record['locked_until'] = 0
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
"""


class RedisIdempotencyStore:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)

    async def claim(
        self, owner: str, key: str, record: IdempotencyRecord, *, lock_s: float, retention_s: float
    ) -> IdempotencyRecord | None:
        async with reaching_redis():
            found: Any = await self._claim(
                keys=[self._keys.idempotency(owner, key)],
                args=[*_stored(record), _ms(lock_s), _ms(retention_s)],
            )
        if not found:
            return None
        data = json.loads(found[0])
        return IdempotencyRecord(
            data["fingerprint"],
            done=bool(data["done"]),
            job_id=data.get("job_id"),
            holder=data.get("holder") or "",
            locked=bool(found[1]),
        )

    async def take_over(
        self,
        owner: str,
        key: str,
        previous_holder: str,
        record: IdempotencyRecord,
        *,
        lock_s: float,
        retention_s: float,
    ) -> bool:
        async with reaching_redis():
            taken: Any = await self._take_over(
                keys=[self._keys.idempotency(owner, key)],
                args=[previous_holder, *_stored(record), _ms(lock_s), _ms(retention_s)],
            )
        return bool(taken)

    async def complete(
        self, owner: str, key: str, holder: str, job_id: str | None, *, retention_s: float
    ) -> None:
        async with reaching_redis():
            await self._complete(
                keys=[self._keys.idempotency(owner, key)],
                args=[holder, job_id or "", _ms(retention_s)],
            )

    async def release(self, owner: str, key: str, holder: str) -> None:
        async with reaching_redis():
            await self._release(keys=[self._keys.idempotency(owner, key)], args=[holder])


def _stored(record: IdempotencyRecord) -> list[str]:
    """A new record's fingerprint, job id and holder, as the scripts take them."""
    if record.job_id is None or not record.holder:
        raise ValueError("an in-flight record names its job and its holder")
    return [record.fingerprint, record.job_id, record.holder]


def _ms(seconds: float) -> int:
    """Milliseconds for SET PX and the lock deadline: at least one."""
    return max(1, int(seconds * 1000))
