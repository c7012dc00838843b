"""The backend contract: the same assertions for every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from inferql.backends.base import Backend
from inferql.errors import OverloadedError
from inferql.inference import LabelScore, ModelRef, Prediction
from inferql.jobs.model import Job, JobEvent, JobEventType, JobStatus, new_job_id
from tests.backends.conftest import BackendFactory

REF = ModelRef("sentiment", "1")


def make_job(*texts: str) -> Job:
    return Job(id=new_job_id(), model=REF, texts=texts or ("hello",))


def prediction(label: str) -> Prediction:
    return Prediction(label=label, score=0.9, scores=(LabelScore(label, 0.9),), model=REF)


async def test_a_created_job_reads_back_equal(backend: Backend) -> None:
    job = make_job("a", "b")
    await backend.jobs.create(job)
    assert await backend.jobs.get(job.id) == job
    assert await backend.jobs.get(new_job_id()) is None


async def test_update_applies_only_from_the_expected_status(backend: Backend) -> None:
    job = make_job()
    await backend.jobs.create(job)

    running = await backend.jobs.update(
        job.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING, done=0
    )
    again = await backend.jobs.update(
        job.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING
    )
    finished = await backend.jobs.update(
        job.id,
        frozenset({JobStatus.RUNNING}),
        status=JobStatus.SUCCEEDED,
        done=1,
        predictions=(prediction("positive"),),
    )

    assert running is not None and running.status is JobStatus.RUNNING
    assert running.revision == job.revision + 1
    assert again is None
    assert finished is not None and finished.revision == job.revision + 2
    assert await backend.jobs.get(job.id) == finished
    assert await backend.jobs.update(new_job_id(), frozenset(JobStatus), done=1) is None


async def test_a_finished_job_is_gone_after_its_retention(backend_named: BackendFactory) -> None:
    backend = await backend_named(job_retention_s=0.2)
    done, running = make_job("done"), make_job("running")
    for job in (done, running):
        await backend.jobs.create(job)
    await backend.jobs.update(
        done.id,
        frozenset({JobStatus.QUEUED}),
        status=JobStatus.SUCCEEDED,
        finished_at=datetime.now(UTC),
    )
    await backend.jobs.update(running.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING)
    await asyncio.sleep(0.3)
    await backend.jobs.create(make_job("later"))

    assert await backend.jobs.get(done.id) is None
    assert await backend.jobs.get(running.id) is not None
    listed = await backend.jobs.list(status=None, before=None, limit=10)
    assert done.id not in [job.id for job in listed]


async def test_list_pages_newest_first_with_a_status_filter(backend: Backend) -> None:
    jobs = [make_job(str(i)) for i in range(5)]
    for job in jobs:
        await backend.jobs.create(job)
    await backend.jobs.update(jobs[2].id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING)

    newest = await backend.jobs.list(status=None, before=None, limit=2)
    older = await backend.jobs.list(status=None, before=newest[-1].id, limit=10)
    queued = await backend.jobs.list(status=JobStatus.QUEUED, before=None, limit=10)

    assert [j.id for j in newest + older] == [j.id for j in reversed(jobs)]
    assert [j.id for j in queued] == [jobs[i].id for i in (4, 3, 1, 0)]


async def test_the_queue_hands_out_jobs_in_order_and_counts_them(backend: Backend) -> None:
    for name in ("a", "b", "c"):
        await backend.queue.put(name)
    assert await backend.queue.depth() == 3

    first = await backend.queue.take(2, timeout=1)
    second = await backend.queue.take(5, timeout=1)
    for delivery in first + second:
        await backend.queue.ack(delivery)

    assert [d.job_id for d in first] == ["a", "b"]
    assert [d.job_id for d in second] == ["c"]
    assert await backend.queue.depth() == 0


async def test_take_waits_for_work_and_gives_up_after_its_timeout(backend: Backend) -> None:
    assert await backend.queue.take(1, timeout=0.05) == []

    waiting = asyncio.create_task(backend.queue.take(1, timeout=5))
    await asyncio.sleep(0.05)
    await backend.queue.put("late")

    assert [d.job_id for d in await waiting] == ["late"]


async def test_events_reach_subscribers_of_the_job_and_of_all_jobs(backend: Backend) -> None:
    mine, other = make_job("mine"), make_job("other")
    async with backend.events.subscribe(mine.id) as one, backend.events.subscribe() as every:
        for job in (mine, other, mine):
            await backend.events.publish(JobEvent(JobEventType.QUEUED, job))
        one_seen = [await anext(aiter(one)) for _ in range(2)]
        all_seen = [await anext(aiter(every)) for _ in range(3)]

    assert [e.job.id for e in one_seen] == [mine.id, mine.id]
    assert [e.job.id for e in all_seen] == [mine.id, other.id, mine.id]


async def test_a_subscriber_that_falls_behind_is_told_so(backend: Backend) -> None:
    job = make_job()
    async with backend.events.subscribe(job.id) as stream:
        for _ in range(10):  # the backend buffers 4
            await backend.events.publish(JobEvent(JobEventType.PROGRESS, job))
        with pytest.raises(OverloadedError):
            async for _ in stream:
                pass


async def test_the_cache_returns_what_was_put_marked_cached(backend: Backend) -> None:
    await backend.cache.put_many(REF, ["good", "bad"], [prediction("pos"), prediction("neg")])

    found = await backend.cache.get_many(REF, ["bad", "unknown", "good"])
    other_version = await backend.cache.get_many(ModelRef("sentiment", "2"), ["good"])

    assert [p.label if p else None for p in found] == ["neg", None, "pos"]
    assert all(p.cached for p in found if p)
    assert other_version == [None]


async def test_persisted_queries_read_back_by_hash(backend: Backend) -> None:
    store = backend.persisted_queries
    assert await store.get("a" * 64) is None

    await store.put("a" * 64, "{ models { name } }")
    await store.put("b" * 64, "{ __typename }")

    assert await store.get("a" * 64) == "{ models { name } }"
    assert await store.get("b" * 64) == "{ __typename }"


async def test_persisted_queries_expire_unless_read(backend_named: BackendFactory) -> None:
    store = (await backend_named(apq_ttl_s=0.5)).persisted_queries  # after the last put or get
    await store.put("c" * 64, "{ __typename }")
    await store.put("d" * 64, "{ models { name } }")
    for _ in range(3):
        await asyncio.sleep(0.3)
        assert await store.get("c" * 64) == "{ __typename }"

    assert await store.get("d" * 64) is None


async def test_submit_stores_announces_and_queues_a_job(backend: Backend) -> None:
    job = make_job("a")
    async with backend.events.subscribe(job.id) as stream:
        await backend.submit(job)
        event = await anext(aiter(stream))

    assert event == JobEvent(JobEventType.QUEUED, job)
    assert await backend.jobs.get(job.id) == job
    assert [d.job_id for d in await backend.queue.take(5, timeout=1)] == [job.id]


async def test_counters_count_submitted_and_finished_jobs(backend: Backend) -> None:
    jobs = [make_job(str(i)) for i in range(3)]
    for job in jobs:
        await backend.submit(job)
    running = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
    await backend.jobs.update(jobs[0].id, running, status=JobStatus.SUCCEEDED)
    await backend.jobs.update(jobs[0].id, frozenset(JobStatus), status=JobStatus.FAILED)
    await backend.jobs.update(jobs[1].id, running, status=JobStatus.CANCELED)

    assert await backend.jobs.counters() == {"submitted": 3, "succeeded": 1, "canceled": 1}


async def test_a_released_delivery_is_delivered_again(backend: Backend) -> None:
    await backend.queue.put("a")
    (first,) = await backend.queue.take(1, timeout=1)
    await backend.queue.release(first)

    again = await backend.queue.take(1, timeout=1)

    assert [d.job_id for d in again] == ["a"]
    assert again[0].attempt >= first.attempt


async def test_a_dead_lettered_delivery_is_not_delivered_again(backend: Backend) -> None:
    await backend.queue.put("doomed")
    (delivery,) = await backend.queue.take(1, timeout=1)
    await backend.queue.dead_letter(delivery, "test")

    assert await backend.queue.take(1, timeout=0.05) == []
    assert await backend.queue.depth() == 0


async def test_a_queue_nobody_serves_has_no_live_workers(backend: Backend) -> None:
    assert await backend.queue.workers_alive() == 0
