"""Idempotency records in Redis as earlier versions wrote them (no holder, no
lock deadline: an in-flight record that expired with its lock) keep working
while replicas are upgraded one by one."""

from __future__ import annotations

import json

from inferql.backends.redis import RedisBackend
from inferql.backends.stores import IdempotencyRecord


async def test_records_written_before_lock_deadlines_are_understood(
    redis_backend: RedisBackend,
) -> None:
    client, keys = redis_backend.client, redis_backend.keys
    old_in_flight = {"fingerprint": "p", "done": False, "job_id": None}
    old_done = {"fingerprint": "p", "done": True, "job_id": "j0"}
    await client.set(keys.idempotency("ann", "a"), json.dumps(old_in_flight), px=10_000)
    await client.set(keys.idempotency("ann", "b"), json.dumps(old_done), px=10_000)
    new = IdempotencyRecord("p", job_id="j1", holder="h1")

    in_flight = await redis_backend.idempotency.claim("ann", "a", new, lock_s=10, retention_s=10)
    taken = await redis_backend.idempotency.take_over(
        "ann", "a", "", new, lock_s=10, retention_s=10
    )
    done = await redis_backend.idempotency.claim("ann", "b", new, lock_s=10, retention_s=10)

    assert in_flight == IdempotencyRecord("p", job_id=None, locked=True)  # until it expires
    assert not taken
    assert done == IdempotencyRecord("p", done=True, job_id="j0")
