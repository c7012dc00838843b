"""The job store: one hash per job, sorted-set indexes for listing, and a
compare-and-set script so that concurrent updates never interleave.

A job is created by one script too, which can also announce it and put it on
the work queue (the backend's ``submit``): one round trip, and never a job
stored but not queued.

``update`` reads the job, applies the changes in Python, and writes back only
if the stored revision is still the one it read (retrying otherwise). Given
the copy an earlier update returned (a worker's, as it reports a job), it
tries that copy first: one round trip instead of two while nobody else
changed the job. ``update_each_announcing`` updates many jobs with one
pipelined read and one pipeline of compare-and-sets. The same script can
publish the job's event once the write is done (``update_announcing``), so
that no change goes unannounced. Finished jobs get a TTL (the retention
setting); ids of expired jobs are pruned from the indexes as they are met.
"""

from __future__ import annotations

import builtins
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from inferql.backends.redis.codec import dump_delivery, dump_event, dump_job, load_job
from inferql.backends.redis.connection import reaching_redis
from inferql.backends.redis.job_scripts import COMPARE_AND_SET, CREATE
from inferql.backends.redis.keys import Keys
from inferql.backends.stores import WebhookDelivery
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus

_MAX_CAS_ATTEMPTS = 50
# Every this many creates, look at the oldest ids for jobs that have expired.
_PRUNE_EVERY = 256
_PRUNE_BATCH = 256


class RedisJobStore:
    def __init__(self, client: Redis, keys: Keys, *, retention: dt.timedelta) -> None:
        self._client = client
        self._keys = keys
        self._retention_ms = int(retention.total_seconds() * 1000)
        self._cas = client.register_script(COMPARE_AND_SET)
        self._create = client.register_script(CREATE)
        self._creates = 0

    async def create(self, job: Job) -> None:
        await self.create_announced(job, None)

    async def create_announced(
        self,
        job: Job,
        event: JobEvent | None,
        *,
        queue_field: str | None = None,
        webhook: WebhookDelivery | None = None,
    ) -> bool:
        """Store ``job`` and, in the same script, publish ``event``; with a
        ``queue_field``, add the job's id to the work queue under that field;
        with a ``webhook``, put it in the outbox, due now. A crash cannot leave
        a job stored but never queued, queued unannounced, or finished with its
        webhook unsent. False, and nothing done, for a job whose id exists
        already (or the same call sent again after its reply was lost)."""
        finished = job.status.terminal
        async with reaching_redis():
            created: Any = await self._create(
                keys=[
                    self._keys.job(job.id),
                    self._keys.job_ids,
                    self._keys.job_ids_with(job.status),
                    self._keys.jobs_of(job.owner),
                    self._keys.counters,
                    self._keys.queue,
                    self._keys.webhooks,
                    self._keys.webhooks_due,
                ],
                args=[
                    dump_job(job),
                    job.status.value,
                    job.revision,
                    job.id,
                    self._retention_ms if finished else 0,
                    job.status.value.lower() if finished else "",
                    self._keys.events if event is not None else "",
                    dump_event(event) if event is not None else "",
                    queue_field or "",
                    *(
                        ("", "", 0)
                        if webhook is None
                        else (webhook.id, dump_delivery(webhook), int(time.time() * 1000))
                    ),
                ],
            )
        await self.created()
        return bool(created)

    async def created(self) -> None:
        """Count a create; now and then, prune the indexes of expired jobs."""
        self._creates += 1
        if self._creates % _PRUNE_EVERY == 0:
            async with reaching_redis():
                ids: Any = await self._client.zrange(self._keys.job_ids, 0, _PRUNE_BATCH - 1)
                pipe = self._client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.exists(self._keys.job(job_id))
                gone = [i for i, alive in zip(ids, await pipe.execute(), strict=True) if not alive]
                if gone:
                    await self._forget(gone)

    async def get(self, job_id: str) -> Job | None:
        async with reaching_redis():
            data = await self._client.hget(self._keys.job(job_id), "json")
        return None if data is None else load_job(data)

    async def list(
        self,
        *,
        status: JobStatus | None,
        before: str | None,
        limit: int,
        owner: str | None = None,
    ) -> list[Job]:
        if owner is not None:
            index = self._keys.jobs_of(owner)  # filtered by status below
        else:
            index = self._keys.job_ids if status is None else self._keys.job_ids_with(status)
        page: list[Job] = []
        upper = "+" if before is None else f"({before}"
        async with reaching_redis():
            while len(page) < limit:
                want = limit - len(page)
                ids: Any = await self._client.zrange(
                    index, upper, "-", desc=True, bylex=True, offset=0, num=want
                )
                if not ids:
                    break
                pipe = self._client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(self._keys.job(job_id), "json")
                found = await pipe.execute()
                gone = [job_id for job_id, data in zip(ids, found, strict=True) if data is None]
                jobs = (load_job(data) for data in found if data is not None)
                page.extend(j for j in jobs if owner is None or status in (None, j.status))
                if gone:
                    await self._forget(gone, index)
                upper = f"({ids[-1]}"
        return page

    async def update(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        *,
        known: Job | None = None,
        **changes: Any,
    ) -> Job | None:
        return await self._update(job_id, expect, known, changes, None)

    async def update_announcing(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        event: JobEventType,
        *,
        known: Job | None = None,
        batch: Batch | None = None,
        **changes: Any,
    ) -> JobEvent | None:
        """``update``, then publish the new job as an ``event`` event (on the events
        channel), in the same script: never one without the other."""
        job = await self._update(job_id, expect, known, changes, (event, batch))
        return None if job is None else JobEvent(event, job, batch)

    async def update_each_announcing(
        self,
        job_ids: Sequence[str],
        expect: frozenset[JobStatus],
        event: JobEventType,
        **changes: Any,
    ) -> builtins.list[JobEvent | None]:
        """``update_announcing`` of each job, pipelined: one read of them all, then
        one compare-and-set of each (redis-py first checks that the script is
        loaded: one more round trip). A job that another writer changed in
        between is retried on its own."""
        if not job_ids:
            return []
        announce = (event, None)
        async with reaching_redis():
            read = self._client.pipeline(transaction=False)
            for job_id in job_ids:
                read.hget(self._keys.job(job_id), "json")
            stored = [None if data is None else load_job(data) for data in await read.execute()]
            swaps = [
                (i, job, job.evolve(**changes))
                for i, job in enumerate(stored)
                if job is not None and job.status in expect
            ]
            written: builtins.list[Any] = []
            if swaps:
                pipe = self._client.pipeline(transaction=False)
                for _, job, new in swaps:
                    keys, args = self._cas_call(job, new, announce)
                    await self._cas(keys=keys, args=args, client=pipe)
                written = await pipe.execute()
        results: builtins.list[JobEvent | None] = [None] * len(job_ids)
        for (i, job, new), applied in zip(swaps, written, strict=True):
            results[i] = (
                JobEvent(event, new)
                if applied
                else await self.update_announcing(job.id, expect, event, **changes)
            )
        return results

    async def _update(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        known: Job | None,
        changes: dict[str, Any],
        announce: tuple[JobEventType, Batch | None] | None,
    ) -> Job | None:
        """The new job if the update applied (and ``announce``'s event was
        published with it), else None."""
        async with reaching_redis():
            if known is not None and known.id == job_id and known.status in expect:
                new = known.evolve(**changes)
                if await self._swap(known, new, announce):
                    return new
            for _ in range(_MAX_CAS_ATTEMPTS):
                data = await self._client.hget(self._keys.job(job_id), "json")
                if data is None:
                    return None
                job = load_job(data)
                if job.status not in expect:
                    return None
                new = job.evolve(**changes)
                if await self._swap(job, new, announce):
                    return new
        raise RuntimeError(f"job {job_id}: {_MAX_CAS_ATTEMPTS} concurrent updates in a row")

    async def _swap(
        self, job: Job, new: Job, announce: tuple[JobEventType, Batch | None] | None
    ) -> bool:
        """Write ``new`` if the stored job is still at ``job``'s revision, and then
        publish ``announce``'s event of it."""
        keys, args = self._cas_call(job, new, announce)
        return bool(await self._cas(keys=keys, args=args))

    def _cas_call(
        self, job: Job, new: Job, announce: tuple[JobEventType, Batch | None] | None
    ) -> tuple[builtins.list[str], builtins.list[str | int]]:
        """The compare-and-set script's keys and arguments for ``job`` -> ``new``."""
        event = None if announce is None else JobEvent(announce[0], new, announce[1])
        ttl = self._retention_ms if new.status.terminal else 0
        finished = new.status.terminal and not job.status.terminal
        counter = new.status.value.lower() if finished else ""
        keys = [
            self._keys.job(job.id),
            self._keys.job_ids_with(job.status),
            self._keys.job_ids_with(new.status),
            self._keys.counters,
        ]
        args: builtins.list[str | int] = [
            job.revision,
            dump_job(new),
            new.status.value,
            new.revision,
            job.id,
            ttl,
            counter,
            self._keys.events if event is not None else "",
            dump_event(event) if event is not None else "",
        ]
        return keys, args

    async def counters(self) -> dict[str, int]:
        async with reaching_redis():
            raw: Any = await self._client.hgetall(self._keys.counters)
        return {name: int(value) for name, value in raw.items()}

    async def _forget(self, job_ids: Sequence[str], *also: str) -> None:
        """Drop expired jobs from every index (and from ``also``: an owner's index,
        which is pruned as it is read)."""
        pipe = self._client.pipeline(transaction=False)
        for index in also:
            pipe.zrem(index, *job_ids)
        pipe.zrem(self._keys.job_ids, *job_ids)
        for status in JobStatus:
            pipe.zrem(self._keys.job_ids_with(status), *job_ids)
        await pipe.execute()
