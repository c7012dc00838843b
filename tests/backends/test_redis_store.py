"""The job store's scripts run twice change nothing the second time: redis-py
sends a command again when its reply is lost after the server ran it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from inferql.backends.base import EventStream
from inferql.backends.redis import RedisBackend
from inferql.inference import ModelRef
from inferql.jobs.model import Job, JobEvent, JobEventType, JobStatus, new_job_id


def _job() -> Job:
    return Job(id=new_job_id(), model=ModelRef("m", "1"), texts=("t",))


async def _announced(backend: RedisBackend, events: EventStream, job: Job) -> list[JobEventType]:
    """The events ``events`` got of ``job``, up to a marker published last (at a
    newer revision than ``job``'s: subscribers drop events they have seen)."""
    await backend.events.publish(JobEvent(JobEventType.PROGRESS, job.evolve()))
    got: list[JobEventType] = []
    async with asyncio.timeout(5):
        async for event in events:
            if event.type is JobEventType.PROGRESS:
                return got
            got.append(event.type)
    raise AssertionError("the events ended")


async def test_a_submit_sent_again_stores_queues_and_counts_the_job_once(
    redis_backend: RedisBackend,
) -> None:
    job = _job()
    async with redis_backend.events.subscribe(job.id) as events:
        await redis_backend.submit(job)
        await redis_backend.submit(job)  # the same script with the same arguments

        assert await redis_backend.client.xlen(redis_backend.keys.queue) == 1
        assert (await redis_backend.jobs.counters())["submitted"] == 1
        assert await _announced(redis_backend, events, job) == [JobEventType.QUEUED]


async def test_a_change_sent_again_applies_and_is_announced_once(
    redis_backend: RedisBackend,
) -> None:
    job = _job()
    await redis_backend.jobs.create(job)
    queued = frozenset({JobStatus.QUEUED})
    change: dict[str, Any] = {
        "status": JobStatus.SUCCEEDED,
        "finished_at": datetime.now(UTC),
        "done": 1,
    }

    async with redis_backend.events.subscribe(job.id) as events:
        first = await redis_backend.advance(
            job.id, queued, JobEventType.SUCCEEDED, known=job, **change
        )
        again = await redis_backend.advance(
            job.id, queued, JobEventType.SUCCEEDED, known=job, **change
        )

        assert first is not None and again == first  # the second finds its write done
        stored = await redis_backend.jobs.get(job.id)
        assert stored == first.job and stored.revision == job.revision + 1
        assert (await redis_backend.jobs.counters())["succeeded"] == 1
        assert await _announced(redis_backend, events, first.job) == [JobEventType.SUCCEEDED]


async def test_a_change_from_a_revision_another_writer_replaced_is_refused(
    redis_backend: RedisBackend,
) -> None:
    job = _job()
    await redis_backend.jobs.create(job)
    queued = frozenset({JobStatus.QUEUED})
    await redis_backend.jobs.update(job.id, queued, done=0)  # another writer: revision 1
    canceled = await redis_backend.jobs.update(job.id, queued, known=job, status=JobStatus.CANCELED)

    # Not the write at revision 1: the stale copy is refused, the job re-read.
    assert canceled is not None and canceled.revision == 2
    assert await redis_backend.jobs.get(job.id) == canceled
