"""The work queue: a Redis Stream read through one consumer group.

A job id is XADDed once; XREADGROUP hands it to exactly one worker, where it
stays pending until that worker XACKs it, after the job's result is stored. A
live worker renews its claim on what it holds every third of ``claim_idle_ms``
(XCLAIM ... JUSTID resets the idle time without counting a delivery), so only
the jobs of a dead worker go idle long enough for XAUTOCLAIM to hand them to
another. Each delivery carries its count; the worker dead-letters a job that
has been delivered too often (see ``jobs/intake.py``).

A worker that hands a job back unrun (``release``: it lost Redis, or could not
start the job) did not fail with it, so that delivery does not count: the
entry keeps its place and its id, and the hand-back is counted beside it
(``Keys.queue_handbacks``), to be taken off Redis's count of deliveries. A
hand-back that cannot reach Redis waits in this process for the next ``take``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from inferql.backends.base import Delivery
from inferql.backends.redis.connection import CONNECTION_ERRORS, reaching_redis
from inferql.backends.redis.keys import WORKERS_GROUP, Keys
from inferql.backends.redis.queue_depth import SharedDepth, no_group
from inferql.backends.redis.queue_scripts import HAND_BACK, LEAVE_IF_NOTHING_PENDING

logger = logging.getLogger(__name__)

# The field of a queue entry that holds the job id (the backend's submit script
# writes entries too).
JOB_FIELD = "job"


class RedisWorkQueue:
    def __init__(self, client: Redis, keys: Keys, *, consumer: str, claim_idle_ms: int) -> None:
        self._client = client
        self._keys = keys
        self.consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._heartbeat_s = claim_idle_ms / 3000
        self._held: set[str] = set()  # receipts taken and not yet acked
        self._unacked: set[str] = set()  # finished, the ack not through to Redis
        # Handed back, not yet through to Redis (sent by one task at a time).
        self._returning: dict[str, Delivery] = {}
        self._returning_lock = asyncio.Lock()
        self._group_ready = False
        self._next_reclaim = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._depth = SharedDepth(client, keys)
        self._leave = client.register_script(LEAVE_IF_NOTHING_PENDING)
        self._hand_back = client.register_script(HAND_BACK)

    async def put(self, job_id: str) -> None:
        async with reaching_redis():
            await self._client.xadd(self._keys.queue, {JOB_FIELD: job_id})

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(), name="inferql-queue-heartbeat")
        async with reaching_redis():
            await self._ensure_group()
            await self._send_acks()
            await self._send_hand_backs()  # before anyone can take them again
            try:
                return self._hold(await self._next_deliveries(limit, timeout))
            except ResponseError as error:
                if not no_group(error):
                    raise
                self._group_ready = False  # Redis lost its data: make the group again
                return []

    async def _next_deliveries(self, limit: int, timeout: float) -> list[Delivery]:
        """Jobs taken over from stopped workers, when it is time to look, else new
        ones (waiting up to ``timeout`` for the first)."""
        if time.monotonic() >= self._next_reclaim:
            self._next_reclaim = time.monotonic() + self._heartbeat_s
            reclaimed = await self._reclaim(limit)
            if reclaimed:
                return reclaimed
        response: Any = await self._client.xreadgroup(
            WORKERS_GROUP,
            self.consumer,
            {self._keys.queue: ">"},
            count=limit,
            block=max(1, round(timeout * 1000)) if timeout > 0 else None,
        )
        return [
            Delivery(fields[JOB_FIELD], entry_id)
            for _stream, entries in response or ()
            for entry_id, fields in entries
        ]

    async def ack(self, *deliveries: Delivery) -> None:
        if not deliveries:
            return
        self._unacked.update(delivery.receipt for delivery in deliveries)
        async with reaching_redis():
            await self._send_acks()

    async def _send_acks(self) -> None:
        """Ack every finished entry not acked yet. One whose ack fails stays held
        (its claim renewed, so no one runs it again) until an ack gets through:
        the next one, or the next take's."""
        if not self._unacked:
            return
        receipts = list(self._unacked)
        pipe = self._client.pipeline(transaction=True)
        pipe.xack(self._keys.queue, WORKERS_GROUP, *receipts)
        pipe.xdel(self._keys.queue, *receipts)
        pipe.hdel(self._keys.queue_handbacks, *receipts)
        await pipe.execute()
        self._unacked.difference_update(receipts)
        self._held.difference_update(receipts)

    async def release(self, delivery: Delivery) -> None:
        """Stop renewing the claim and hand the entry back (``HAND_BACK``): the
        next XAUTOCLAIM, by any worker, takes it, and that delivery does not
        count. If Redis cannot be reached, raise ``UnavailableError``; the
        hand-back is sent again before this queue's next take (or as it
        closes), and should this process die first, the unrenewed claim goes
        idle and another worker takes the job over, as a dead worker's."""
        self._held.discard(delivery.receipt)
        self._returning[delivery.receipt] = delivery
        self._next_reclaim = 0.0
        async with reaching_redis():
            await self._send_hand_backs()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        async with reaching_redis():
            pipe = self._client.pipeline(transaction=True)
            pipe.xadd(
                self._keys.dead_letters,
                {
                    JOB_FIELD: delivery.job_id,
                    "receipt": delivery.receipt,
                    "deliveries": delivery.attempt,
                    "reason": reason,
                },
            )
            pipe.xack(self._keys.queue, WORKERS_GROUP, delivery.receipt)
            pipe.xdel(self._keys.queue, delivery.receipt)
            pipe.hdel(self._keys.queue_handbacks, delivery.receipt)
            pipe.hincrby(self._keys.counters, "dead_lettered", 1)
            await pipe.execute()
        self._held.discard(delivery.receipt)

    async def depth(self) -> int:
        return await self._depth()

    async def workers_alive(self) -> int:
        """Workers whose heartbeat is recent."""
        since = int(time.time() * 1000 - 3 * self._heartbeat_s * 1000)
        async with reaching_redis():
            return int(await self._client.zcount(self._keys.workers, since, "+inf"))

    async def close(self) -> None:
        """Stop renewing claims and leave the set of live workers."""
        self._closing.set()
        if self._heartbeat is None:
            return
        await self._heartbeat
        with contextlib.suppress(*CONNECTION_ERRORS, ResponseError):
            await self._send_acks()
            await self._send_hand_backs()
            await self._client.zrem(self._keys.workers, self.consumer)
            # Leave the group too, unless Redis still counts an entry as this
            # consumer's (one handed back, or one whose delivery never reached
            # us): deleting the consumer would delete its entries' claims, and
            # no XAUTOCLAIM would ever find them again.
            await self._leave(keys=[self._keys.queue], args=[WORKERS_GROUP, self.consumer])

    def _hold(self, deliveries: list[Delivery]) -> list[Delivery]:
        for delivery in deliveries:
            self._held.add(delivery.receipt)
            self._returning.pop(delivery.receipt, None)  # it is this one's again
        return deliveries

    async def _send_hand_backs(self) -> None:
        """Send the hand-backs that have not reached Redis; each that does (or that
        Redis refuses) is done. Raises what a lost connection raises."""
        async with self._returning_lock:
            for receipt, delivery in list(self._returning.items()):
                try:
                    await self._hand_back(
                        keys=[self._keys.queue, self._keys.queue_handbacks],
                        args=[
                            WORKERS_GROUP,
                            self.consumer,
                            receipt,
                            delivery.attempt,
                            self._claim_idle_ms,
                        ],
                    )
                except ResponseError as error:
                    if str(error).startswith("LOADING"):
                        raise
                    # Never renewed again, it goes to another worker once idle.
                    logger.warning("could not hand back job %s: %s", delivery.job_id, error)
                del self._returning[receipt]

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self._keys.queue, WORKERS_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def _reclaim(self, limit: int) -> list[Delivery]:
        """Take over jobs that a dead worker left idle or a worker handed back, with
        their delivery counts: Redis's count less the hand-backs."""
        _next, entries, _deleted = await self._client.xautoclaim(
            self._keys.queue,
            WORKERS_GROUP,
            self.consumer,
            min_idle_time=self._claim_idle_ms,
            start_id="0-0",
            count=limit,
        )
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not entries:
            return []
        # Each entry's own count: a range between the first and the last would
        # also hold entries this consumer had already, and could cut the last off.
        pipe = self._client.pipeline(transaction=False)
        ids = [entry_id for entry_id, _fields in entries]
        for entry_id in ids:
            pipe.xpending_range(
                self._keys.queue, WORKERS_GROUP, min=entry_id, max=entry_id, count=1
            )
        pipe.hmget(self._keys.queue_handbacks, ids)
        *found, handed = await pipe.execute()
        counts = {p["message_id"]: int(p["times_delivered"]) for one in found for p in one}
        handed_back = {entry_id: int(n) for entry_id, n in zip(ids, handed, strict=True) if n}
        logger.warning("took over %d job(s) handed back or left by a stopped worker", len(ids))
        return [
            Delivery(
                fields[JOB_FIELD],
                entry_id,
                attempt=max(1, counts.get(entry_id, 1) - handed_back.get(entry_id, 0)),
            )
            for entry_id, fields in entries
        ]

    async def _beat(self) -> None:
        """Renew the claim on every held job and say this worker is alive."""
        while not self._closing.is_set():
            try:
                held: list[Any] = list(self._held)
                pipe = self._client.pipeline(transaction=False)
                pipe.zadd(self._keys.workers, {self.consumer: int(time.time() * 1000)})
                if held:
                    pipe.xclaim(
                        self._keys.queue, WORKERS_GROUP, self.consumer, 0, held, justid=True
                    )
                await pipe.execute()
            except CONNECTION_ERRORS:
                logger.warning("heartbeat: Redis cannot be reached")
            except ResponseError as error:
                logger.warning("heartbeat failed: %s", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._closing.wait()
