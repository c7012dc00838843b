"""The backend contract: the same assertions for every backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from inferql.backends.base import Backend
from inferql.backends.stores import IdempotencyRecord, WebhookDelivery
from inferql.errors import OverloadedError
from inferql.inference import LabelScore, ModelRef, Prediction
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus, new_job_id
from inferql.security.apikeys import generate_key, matches
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


async def test_an_update_from_a_known_copy_applies_to_the_job_as_stored(backend: Backend) -> None:
    # A worker passes the copy its last update returned; whatever changed the job
    # since (another update, a cancel) wins over that copy.
    running_only = frozenset({JobStatus.RUNNING})
    job = make_job("a", "b")
    await backend.jobs.create(job)
    running = await backend.jobs.update(
        job.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING
    )
    assert running is not None

    progressed = await backend.jobs.update(job.id, running_only, known=running, done=1)
    assert progressed is not None and progressed.done == 1
    assert progressed.revision == running.revision + 1
    assert await backend.jobs.get(job.id) == progressed

    # A stale copy (before the progress): the stored job is the one changed.
    finished = await backend.jobs.update(
        job.id, running_only, known=running, status=JobStatus.SUCCEEDED
    )
    assert finished is not None and finished.done == 1
    assert finished.revision == progressed.revision + 1
    assert await backend.jobs.get(job.id) == finished

    # A copy whose status is expected, of a job since canceled: nothing changes.
    other = make_job("c")
    await backend.jobs.create(other)
    taken = await backend.jobs.update(
        other.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING
    )
    canceled = await backend.jobs.update(other.id, running_only, status=JobStatus.CANCELED)
    assert taken is not None and canceled is not None
    assert await backend.jobs.update(other.id, running_only, known=taken, done=1) is None
    assert await backend.jobs.get(other.id) == canceled


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


async def test_a_job_created_finished_expires_and_counts(backend_named: BackendFactory) -> None:
    # A job answered from the cache is created SUCCEEDED: counted and kept only
    # for the retention, like one a worker finished.
    backend = await backend_named(job_retention_s=0.2)
    now = datetime.now(UTC)
    done = make_job("cached").evolve(
        status=JobStatus.SUCCEEDED, done=1, started_at=now, finished_at=now
    )
    await backend.jobs.create(done)

    assert await backend.jobs.get(done.id) == done
    assert await backend.jobs.counters() == {"submitted": 1, "succeeded": 1}
    await asyncio.sleep(0.3)
    await backend.jobs.create(make_job("later"))
    assert await backend.jobs.get(done.id) is None


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
        for job in (mine, other, mine.evolve()):
            await backend.events.publish(JobEvent(JobEventType.QUEUED, job))
        one_seen = [await anext(aiter(one)) for _ in range(2)]
        all_seen = [await anext(aiter(every)) for _ in range(3)]

    assert [e.job.id for e in one_seen] == [mine.id, mine.id]
    assert [e.job.id for e in all_seen] == [mine.id, other.id, mine.id]


async def test_a_job_finished_as_it_is_made_is_stored_announced_and_webhooked_once(
    backend: Backend,
) -> None:
    job = replace(make_job("cached"), status=JobStatus.SUCCEEDED, done=1, webhook_url="http://x/")
    delivery = WebhookDelivery(f"msg_{job.id}", job.id, job.owner, "http://x/", "{}")
    async with backend.events.subscribe(job.id) as stream:
        await backend.record_finished(job, delivery)
        await backend.record_finished(job, delivery)  # sent again: nothing more
        await backend.events.publish(JobEvent(JobEventType.CANCELED, job.evolve()))
        heard = [await anext(aiter(stream)) for _ in range(2)]

    assert await backend.jobs.get(job.id) == job
    assert [e.type for e in heard] == [JobEventType.SUCCEEDED, JobEventType.CANCELED]
    [queued] = await backend.webhooks.take(now=time.time() + 1, limit=10, lease_s=30)
    assert queued == delivery
    assert (await backend.jobs.counters())["submitted"] == 1


async def test_a_subscriber_that_falls_behind_is_told_so(backend: Backend) -> None:
    job = make_job()
    async with backend.events.subscribe(job.id) as stream:
        for _ in range(10):  # the backend buffers 4
            job = job.evolve()
            await backend.events.publish(JobEvent(JobEventType.PROGRESS, job))
        with pytest.raises(OverloadedError):
            async for _ in stream:
                pass


async def test_an_event_not_newer_than_its_jobs_last_reaches_no_one(backend: Backend) -> None:
    # A worker that takes over a finished job announces its end again (at least
    # once); subscribers hear of each revision once, and never of an older one.
    first, other = make_job("first"), make_job("other")
    second = first.evolve(status=JobStatus.RUNNING)
    async with backend.events.subscribe(first.id) as one, backend.events.subscribe() as every:
        for job in (first, second, second, first, other):
            await backend.events.publish(JobEvent(JobEventType.STARTED, job))
        one_seen = [await anext(aiter(one)) for _ in range(2)]
        all_seen = [await anext(aiter(every)) for _ in range(3)]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await anext(aiter(one))

    assert [(e.job.id, e.job.revision) for e in one_seen] == [
        (first.id, first.revision),
        (first.id, second.revision),
    ]
    assert [e.job.id for e in all_seen] == [first.id, first.id, other.id]


async def test_advance_changes_a_job_and_announces_it_in_one_step(backend: Backend) -> None:
    job = make_job("a")
    await backend.jobs.create(job)
    batch = Batch("batch-1", 1)
    async with backend.events.subscribe(job.id) as stream:
        started = await backend.advance(
            job.id, frozenset({JobStatus.QUEUED}), JobEventType.STARTED, status=JobStatus.RUNNING
        )
        assert started is not None
        again = await backend.advance(
            job.id, frozenset({JobStatus.QUEUED}), JobEventType.STARTED, status=JobStatus.RUNNING
        )
        assert again is None  # not applied: nothing is announced either
        finished = await backend.advance(
            job.id,
            frozenset({JobStatus.RUNNING}),
            JobEventType.SUCCEEDED,
            known=started.job,
            batch=batch,
            status=JobStatus.SUCCEEDED,
            done=1,
            predictions=(prediction("positive"),),
        )
        assert finished is not None
        async with asyncio.timeout(5):
            heard = [await anext(aiter(stream)) for _ in range(2)]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await anext(aiter(stream))

    assert heard == [started, finished]
    assert (started.type, started.job.status) == (JobEventType.STARTED, JobStatus.RUNNING)
    assert (finished.type, finished.batch) == (JobEventType.SUCCEEDED, batch)
    assert await backend.jobs.get(job.id) == finished.job
    assert await backend.jobs.counters() == {"submitted": 1, "succeeded": 1}


async def test_advance_each_starts_what_is_queued_and_announces_each_once(
    backend: Backend,
) -> None:
    first, running, second = make_job("1"), make_job("r"), make_job("2")
    for job in (first, running, second):
        await backend.jobs.create(job)
    moved = await backend.jobs.update(
        running.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING
    )
    assert moved is not None
    queued = frozenset({JobStatus.QUEUED})
    async with backend.events.subscribe() as stream:
        started = await backend.advance_each(
            [first.id, running.id, new_job_id(), second.id],
            queued,
            JobEventType.STARTED,
            status=JobStatus.RUNNING,
            done=0,
        )
        async with asyncio.timeout(5):
            heard = [await anext(aiter(stream)) for _ in range(2)]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await anext(aiter(stream))

    assert [None if e is None else e.job.id for e in started] == [first.id, None, None, second.id]
    assert heard == [e for e in started if e is not None]
    for event in heard:
        assert (event.type, event.job.status) == (JobEventType.STARTED, JobStatus.RUNNING)
        assert event.job.revision == first.revision + 1
        assert await backend.jobs.get(event.job.id) == event.job
    assert await backend.jobs.get(running.id) == moved
    assert await backend.advance_each([], queued, JobEventType.STARTED) == []


async def test_the_end_of_a_job_reaches_whoever_waits_for_it(backend: Backend) -> None:
    job, other = make_job("mine"), make_job("other")
    running = job.evolve(status=JobStatus.RUNNING)
    succeeded = running.evolve(status=JobStatus.SUCCEEDED)
    async with backend.events.ending(job.id) as ended, backend.events.ending(job.id) as twice:
        await backend.events.publish(JobEvent(JobEventType.QUEUED, job))
        await backend.events.publish(JobEvent(JobEventType.STARTED, running))
        await backend.events.publish(JobEvent(JobEventType.SUCCEEDED, other))
        with pytest.raises(TimeoutError):  # not yet: no end of this job so far
            async with asyncio.timeout(0.2):
                await asyncio.shield(ended)
        await backend.events.publish(JobEvent(JobEventType.SUCCEEDED, succeeded))
        async with asyncio.timeout(5):
            event, again = await ended, await twice

    assert (event.type, event.job) == (JobEventType.SUCCEEDED, succeeded)
    assert again == event


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


async def test_persisted_queries_are_bounded_by_count_and_bytes(
    backend_named: BackendFactory,
) -> None:
    store = (await backend_named(apq_max_entries=3, apq_max_bytes=1000)).persisted_queries
    a, b, c, d, e, f = (letter * 64 for letter in "abcdef")
    await store.put(a, "A" * 400)
    await store.put(b, "B" * 400)
    assert await store.get(a) is not None  # now b is the least recently used
    await store.put(c, "C" * 400)  # 1200 bytes: b goes
    await store.put(d, "D")
    assert await store.get(a) is not None  # c is the least recently used now
    await store.put(e, "E")  # 4 documents: c goes
    await store.put(f, "F" * 1001)  # larger than the whole budget: not kept, nothing goes

    kept = {key[0]: await store.get(key) for key in (a, b, c, d, e, f)}
    assert kept == {"a": "A" * 400, "b": None, "c": None, "d": "D", "e": "E", "f": None}


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


async def test_a_hand_back_is_not_a_delivery(backend: Backend) -> None:
    """A worker that hands a job back unrun (it lost its backend) did not run it:
    however often that happens, the job's next delivery has the same count (so
    blips never dead-letter a healthy job)."""
    await backend.queue.put("a")
    (first,) = await backend.queue.take(1, timeout=1)

    delivery = first
    for _ in range(4):
        await backend.queue.release(delivery)
        (delivery,) = await backend.queue.take(1, timeout=1)
        assert (delivery.job_id, delivery.attempt) == ("a", first.attempt)
    await backend.queue.ack(delivery)

    assert await backend.queue.take(1, timeout=0.05) == []


async def test_a_dead_lettered_delivery_is_not_delivered_again(backend: Backend) -> None:
    await backend.queue.put("doomed")
    (delivery,) = await backend.queue.take(1, timeout=1)
    await backend.queue.dead_letter(delivery, "test")

    assert await backend.queue.take(1, timeout=0.05) == []
    assert await backend.queue.depth() == 0


# -- tenancy ------------------------------------------------------------------


async def test_list_pages_one_owners_jobs(backend: Backend) -> None:
    jobs = [replace(make_job(str(i)), owner="ann" if i % 2 else "ben") for i in range(6)]
    for job in jobs:
        await backend.jobs.create(job)
    await backend.jobs.update(jobs[3].id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING)

    anns = await backend.jobs.list(status=None, before=None, limit=2, owner="ann")
    rest = await backend.jobs.list(status=None, before=anns[-1].id, limit=10, owner="ann")
    queued = await backend.jobs.list(status=JobStatus.QUEUED, before=None, limit=10, owner="ann")

    assert [j.id for j in anns + rest] == [jobs[i].id for i in (5, 3, 1)]
    assert [j.id for j in queued] == [jobs[i].id for i in (5, 1)]
    assert await backend.jobs.list(status=None, before=None, limit=5, owner="cat") == []


# -- API keys -----------------------------------------------------------------


async def test_keys_are_stored_found_listed_and_revoked(backend: Backend) -> None:
    first, token = generate_key("web", "ann", frozenset({"classify"}))
    second, _ = generate_key("batch", "ben", frozenset({"classify", "jobs"}))
    await backend.api_keys.add(first)
    await backend.api_keys.add(second)

    found = await backend.api_keys.find(first.id)
    revoked = await backend.api_keys.revoke(first.id)
    again = await backend.api_keys.revoke(first.id)

    assert found == first and matches(found, token)
    assert token not in repr(await backend.api_keys.all())
    assert [k.id for k in await backend.api_keys.all()] == [first.id, second.id]
    assert revoked is not None and not revoked.active
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await backend.api_keys.find(first.id) == revoked
    assert await backend.api_keys.revoke("nope") is None
    assert await backend.api_keys.find("nope") is None


async def test_webhook_secrets_are_kept_per_owner(backend: Backend) -> None:
    assert await backend.api_keys.webhook_secret("ann") is None
    await backend.api_keys.set_webhook_secret("ann", "whsec_one")
    await backend.api_keys.set_webhook_secret("ben", "whsec_two")
    assert await backend.api_keys.webhook_secret("ann") == "whsec_one"
    assert await backend.api_keys.webhook_secret("ben") == "whsec_two"


# -- idempotency records ------------------------------------------------------


def in_flight(print_: str, job_id: str, holder: str) -> IdempotencyRecord:
    return IdempotencyRecord(print_, job_id=job_id, holder=holder)


async def test_an_idempotency_key_is_claimed_once(backend: Backend) -> None:
    store = backend.idempotency
    first = await store.claim(
        "ann", "k", in_flight("print-1", "j1", "h1"), lock_s=10, retention_s=10
    )
    again = await store.claim(
        "ann", "k", in_flight("print-1", "j1", "h1"), lock_s=10, retention_s=10
    )
    held = await store.claim(
        "ann", "k", in_flight("print-2", "j2", "h2"), lock_s=10, retention_s=10
    )
    other_owner = await store.claim(
        "ben", "k", in_flight("print-1", "j3", "h3"), lock_s=10, retention_s=10
    )
    await store.complete("ann", "k", "h2", "j2", retention_s=10)  # not its holder: ignored
    still = await store.claim(
        "ann", "k", in_flight("print-1", "j4", "h4"), lock_s=10, retention_s=10
    )
    await store.complete("ann", "k", "h1", "j1", retention_s=10)
    done = await store.claim(
        "ann", "k", in_flight("print-1", "j5", "h5"), lock_s=10, retention_s=10
    )
    await store.release("ann", "k", "h1")  # done: kept
    kept = await store.claim(
        "ann", "k", in_flight("print-1", "j6", "h6"), lock_s=10, retention_s=10
    )

    assert first is None and other_owner is None
    assert again is None  # a claim sent again by its holder
    assert held == still == IdempotencyRecord("print-1", job_id="j1", holder="h1", locked=True)
    assert done == kept == IdempotencyRecord("print-1", done=True, job_id="j1", holder="h1")


async def test_a_lapsed_or_released_lock_keeps_the_record(backend: Backend) -> None:
    """Its holder died or gave up: the record, and its job id, stay for the next
    claim to settle, until the retention period ends."""
    store = backend.idempotency
    assert (
        await store.claim("ann", "k", in_flight("p", "j1", "h1"), lock_s=10, retention_s=10) is None
    )
    await store.release("ann", "k", "h2")  # not its holder: ignored
    locked = await store.claim("ann", "k", in_flight("p", "j2", "h2"), lock_s=10, retention_s=10)
    await store.release("ann", "k", "h1")
    released = await store.claim("ann", "k", in_flight("p", "j2", "h2"), lock_s=10, retention_s=10)
    assert (
        await store.claim("ann", "l", in_flight("p", "j3", "h3"), lock_s=0.05, retention_s=10)
        is None
    )
    await asyncio.sleep(0.1)
    lapsed = await store.claim("ann", "l", in_flight("p", "j4", "h4"), lock_s=10, retention_s=10)

    assert locked == IdempotencyRecord("p", job_id="j1", holder="h1", locked=True)
    assert released == IdempotencyRecord("p", job_id="j1", holder="h1", locked=False)
    assert lapsed == IdempotencyRecord("p", job_id="j3", holder="h3", locked=False)


async def test_a_record_is_forgotten_after_its_retention(backend: Backend) -> None:
    store = backend.idempotency
    assert (
        await store.claim("ann", "k", in_flight("p", "j1", "h1"), lock_s=10, retention_s=0.05)
        is None
    )
    await asyncio.sleep(0.1)
    assert (
        await store.claim("ann", "k", in_flight("p", "j2", "h2"), lock_s=10, retention_s=10) is None
    )
    await store.complete("ann", "k", "h2", None, retention_s=0.05)
    done = await store.claim("ann", "k", in_flight("p", "j3", "h3"), lock_s=10, retention_s=10)
    await asyncio.sleep(0.1)
    assert (
        await store.claim("ann", "k", in_flight("p", "j4", "h4"), lock_s=10, retention_s=10) is None
    )
    assert done == IdempotencyRecord("p", done=True, job_id=None, holder="h2")


async def test_a_lapsed_record_is_taken_over_once(backend: Backend) -> None:
    store = backend.idempotency
    await store.claim("ann", "k", in_flight("p", "j1", "old"), lock_s=10, retention_s=10)
    while_locked = await store.take_over(
        "ann", "k", "old", in_flight("p", "j1", "early"), lock_s=10, retention_s=10
    )
    await store.release("ann", "k", "old")
    not_from_it = await store.take_over(
        "ann", "k", "someone", in_flight("p", "j1", "wrong"), lock_s=10, retention_s=10
    )
    taken = await asyncio.gather(
        *(
            store.take_over(
                "ann", "k", "old", in_flight("p", "j1", f"new-{i}"), lock_s=10, retention_s=10
            )
            for i in range(10)
        )
    )
    (winner,) = [f"new-{i}" for i, won in enumerate(taken) if won]
    again = await store.take_over(
        "ann", "k", "old", in_flight("p", "j1", winner), lock_s=10, retention_s=10
    )
    await store.complete("ann", "k", "old", "j1", retention_s=10)  # the old holder: ignored
    await store.release("ann", "k", "old")  # ignored too
    record = await store.claim("ann", "k", in_flight("p", "j9", "late"), lock_s=10, retention_s=10)
    await store.complete("ann", "k", winner, "j1", retention_s=10)
    done = await store.take_over(
        "ann", "k", winner, in_flight("p", "j1", "after"), lock_s=10, retention_s=10
    )

    assert not while_locked and not not_from_it and not done
    assert again  # a take-over sent again by its winner
    assert record == IdempotencyRecord("p", job_id="j1", holder=winner, locked=True)


async def test_concurrent_claims_of_one_key_have_one_winner(backend: Backend) -> None:
    results = await asyncio.gather(
        *(
            backend.idempotency.claim(
                "ann", "race", in_flight("p", f"j{i}", f"h{i}"), lock_s=10, retention_s=10
            )
            for i in range(20)
        )
    )
    assert sum(r is None for r in results) == 1


async def test_a_job_created_or_submitted_again_is_one_job(backend: Backend) -> None:
    """Two requests may create one idempotent job (a holder that stalled past
    its lock, and the one that took its key over): the second create changes
    nothing: the job is stored, counted and queued once."""
    job, other = make_job("a"), make_job("b")
    await backend.submit(job)
    await backend.submit(replace(job, texts=("changed",)))
    await backend.jobs.create(other)
    await backend.jobs.create(replace(other, texts=("changed",)))

    assert await backend.jobs.get(job.id) == job
    assert await backend.jobs.get(other.id) == other
    assert (await backend.jobs.counters())["submitted"] == 2
    assert await backend.queue.depth() == 1


# -- rate limits --------------------------------------------------------------


async def test_rate_limits_count_costs_per_key(backend: Backend) -> None:
    hits = [await backend.rate_limits.hit("ann", cost, limit=10, window_s=60) for cost in (4, 5, 2)]
    window = await backend.rate_limits.window("ann", limit=10, window_s=60)
    other = await backend.rate_limits.hit("ben", 10, limit=10, window_s=60)

    assert hits == [True, True, False]  # 4 + 5 fit, 2 more would make 11
    assert window.current_count == 9
    assert 60 <= window.current_expires_in <= 120
    assert other is True


async def test_concurrent_hits_never_pass_the_limit(backend: Backend) -> None:
    hits = await asyncio.gather(
        *(backend.rate_limits.hit("race", 3, limit=10, window_s=60) for _ in range(10))
    )
    assert sum(hits) == 3


# -- webhook outbox -----------------------------------------------------------


def delivery(job: str, attempt: int = 0) -> WebhookDelivery:
    return WebhookDelivery(
        id=f"msg_{job}",
        job_id=job,
        owner="ann",
        url="https://x.test/h",
        payload="{}",
        attempt=attempt,
    )


async def test_the_outbox_hands_out_due_deliveries_under_a_lease(backend: Backend) -> None:
    outbox, now = backend.webhooks, time.time()
    await outbox.add(delivery("late"), due=now + 60)
    await outbox.add(delivery("b"), due=now - 1)
    await outbox.add(delivery("a"), due=now - 2)

    taken = await outbox.take(now=now, limit=10, lease_s=30)
    again = await outbox.take(now=now + 1, limit=10, lease_s=30)
    lapsed = await outbox.take(now=now + 31, limit=10, lease_s=30)

    assert [d.id for d in taken] == ["msg_a", "msg_b"]
    assert taken[0] == delivery("a")
    assert again == []
    assert sorted(d.id for d in lapsed) == ["msg_a", "msg_b"]  # not "late": not due
    assert await outbox.pending() == 3


async def test_the_outbox_reschedules_and_forgets(backend: Backend) -> None:
    outbox, now = backend.webhooks, time.time()
    await outbox.add(delivery("a"), due=now)
    [taken] = await outbox.take(now=now, limit=1, lease_s=30)
    await outbox.reschedule(replace(taken, attempt=1), due=now + 5)

    assert await outbox.take(now=now + 4, limit=1, lease_s=30) == []
    assert await outbox.take(now=now + 5, limit=1, lease_s=30) == [delivery("a", attempt=1)]
    await outbox.remove("msg_a")
    assert await outbox.pending() == 0
    assert await outbox.take(now=now + 100, limit=1, lease_s=30) == []


async def test_a_delivery_added_again_keeps_its_schedule_and_attempts(backend: Backend) -> None:
    """A job's end announced again (its worker died before acking) adds its
    webhook again: the one already there, leased or retrying, stays as it is."""
    outbox, now = backend.webhooks, time.time()
    await outbox.add(delivery("a"), due=now)
    [taken] = await outbox.take(now=now, limit=1, lease_s=30)
    await outbox.reschedule(replace(taken, attempt=3), due=now + 60)

    await outbox.add(delivery("a"), due=now)

    assert await outbox.take(now=now + 1, limit=1, lease_s=30) == []
    assert await outbox.take(now=now + 60, limit=1, lease_s=30) == [delivery("a", attempt=3)]
    assert await outbox.pending() == 1


async def test_a_queue_nobody_serves_has_no_live_workers(backend: Backend) -> None:
    assert await backend.queue.workers_alive() == 0


async def test_a_removed_delivery_is_not_rescheduled(backend: Backend) -> None:
    """A slow dispatcher's attempt fails after another one (its lease had lapsed)
    delivered and removed it: the late reschedule does not bring it back."""
    outbox, now = backend.webhooks, time.time()
    await outbox.add(delivery("a"), due=now)
    [taken] = await outbox.take(now=now, limit=1, lease_s=30)
    await outbox.remove("msg_a")

    await outbox.reschedule(replace(taken, attempt=1), due=now)
    await outbox.reschedule(replace(taken, attempt=1), due=now)  # sent again: still a no-op

    assert await outbox.pending() == 0
    assert await outbox.take(now=now + 100, limit=1, lease_s=30) == []
