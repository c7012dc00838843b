"""What only the Redis work queue shows: one acknowledgement settles many
deliveries, leaving none pending for another worker to take over; callers that
ask for the depth at once share one query; jobs started together share two
round trips, and one that changed in between is retried alone; a job handed
back survives its worker's stop; jobs taken over keep their delivery counts,
and a hand-back (sent again, or while Redis is away) counts none; an ack sent while Redis is away goes
with the next take; a queue whose
data Redis lost is made again, whichever way a take reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from inferql.backends import create_backend
from inferql.backends.redis import RedisBackend
from inferql.backends.redis.keys import WORKERS_GROUP
from inferql.errors import UnavailableError
from inferql.inference import ModelRef
from inferql.jobs.model import Job, JobEventType, JobStatus, new_job_id
from tests.conftest import SettingsFactory
from tests.redis_server import RedisServer


async def test_one_ack_settles_many_deliveries(redis_backend: RedisBackend) -> None:
    for name in ("a", "b", "c", "d"):
        await redis_backend.queue.put(name)
    taken = await redis_backend.queue.take(4, timeout=1)
    assert [d.job_id for d in taken] == ["a", "b", "c", "d"]

    await redis_backend.queue.ack(*taken[:3])
    pending = await redis_backend.client.xpending(redis_backend.keys.queue, WORKERS_GROUP)
    assert pending["pending"] == 1  # only "d" is still held
    assert await redis_backend.client.xlen(redis_backend.keys.queue) == 1

    await redis_backend.queue.ack()  # nothing to settle: no round trip, no error
    await redis_backend.queue.ack(taken[3])
    pending = await redis_backend.client.xpending(redis_backend.keys.queue, WORKERS_GROUP)
    assert pending["pending"] == 0
    assert await redis_backend.client.xlen(redis_backend.keys.queue) == 0


async def _xlen_calls(backend: RedisBackend) -> int:
    stats: Any = await backend.client.info("commandstats")
    return int(stats.get("cmdstat_xlen", {}).get("calls", 0))


async def test_callers_that_ask_for_the_depth_at_once_share_one_query(
    redis_backend: RedisBackend,
) -> None:
    for name in ("a", "b", "c"):
        await redis_backend.queue.put(name)
    before = await _xlen_calls(redis_backend)
    depths = await asyncio.gather(*(redis_backend.queue.depth() for _ in range(20)))
    shared = await _xlen_calls(redis_backend) - before
    assert depths == [3] * 20
    assert shared == 1

    # One caller that gives up does not take the answer from the others.
    impatient = asyncio.create_task(redis_backend.queue.depth())
    patient = asyncio.create_task(redis_backend.queue.depth())
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await patient == 3

    await redis_backend.queue.take(1, timeout=1)  # a later question gets a new answer
    assert await redis_backend.queue.depth() == 2


async def test_a_job_changed_between_the_read_and_the_write_is_retried_alone(
    redis_backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer cancels a job after ``advance_each`` read it: its swap is
    refused, and the retry finds it CANCELED; the other job starts."""
    store = redis_backend.jobs
    kept, canceled = (Job(id=new_job_id(), model=ModelRef("m", "1"), texts=("t",)) for _ in "ab")
    for job in (kept, canceled):
        await store.create(job)
    queued = frozenset({JobStatus.QUEUED})
    pipeline = redis_backend.client.pipeline
    made: list[Any] = []

    def read_then_cancel(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        made.append(pipe)
        if len(made) == 1:  # the read: another writer acts right after it
            execute = pipe.execute

            async def executed(raise_on_error: bool = True) -> Any:
                found = await execute(raise_on_error)
                await store.update(canceled.id, queued, status=JobStatus.CANCELED)
                return found

            monkeypatch.setattr(pipe, "execute", executed)
        return pipe

    monkeypatch.setattr(redis_backend.client, "pipeline", read_then_cancel)
    started = await redis_backend.advance_each(
        [kept.id, canceled.id], queued, JobEventType.STARTED, status=JobStatus.RUNNING
    )

    assert len(made) == 2  # one read, one write, for both jobs
    assert started[0] is not None and started[0].job.status is JobStatus.RUNNING
    assert started[1] is None
    stored = await store.get(canceled.id)
    assert stored is not None and stored.status is JobStatus.CANCELED


def _worker_backend(url: str, prefix: str, make_settings: SettingsFactory) -> RedisBackend:
    """A worker's backend: its own consumer of the one queue."""
    built = create_backend(make_settings(redis_url=url, redis_prefix=prefix, claim_idle_ms=300))
    assert isinstance(built, RedisBackend)
    return built


async def test_a_job_handed_back_by_a_worker_that_then_stops_goes_to_the_next(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """A hand-back leaves the entry pending under the worker that had it: that
    worker must not leave the group (which would delete the claim) as it stops."""
    first = _worker_backend(redis_server.url, redis_prefix, make_settings)
    await first.queue.put("a")
    [taken] = await first.queue.take(1, timeout=1)
    await first.queue.release(taken)  # as after a lost connection
    await first.close()

    second = _worker_backend(redis_server.url, redis_prefix, make_settings)
    try:
        [again] = await second.queue.take(1, timeout=1)
    finally:
        await second.close()
    assert (again.job_id, again.receipt) == ("a", taken.receipt)


async def test_jobs_taken_over_from_a_dead_worker_carry_their_own_delivery_counts(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """The dead worker held the first and third entries, the live one the second:
    each job taken over counts its second delivery."""
    dead = _worker_backend(redis_server.url, redis_prefix, make_settings)
    live = _worker_backend(redis_server.url, redis_prefix, make_settings)
    try:
        for name in ("a", "b", "c"):
            await dead.queue.put(name)
        [a] = await dead.queue.take(1, timeout=1)
        [b] = await live.queue.take(1, timeout=1)
        [c] = await dead.queue.take(1, timeout=1)
        await dead.close()  # stops renewing its claims, as a dead worker does
        await asyncio.sleep(0.5)  # their claims go idle; the live one renews its own

        taken = await live.queue.take(10, timeout=0)
    finally:
        await live.close()
    assert (a.job_id, b.job_id, c.job_id) == ("a", "b", "c")
    assert [(d.job_id, d.attempt) for d in taken] == [("a", 2), ("c", 2)]


async def test_a_job_handed_back_then_left_by_a_dead_worker_counts_that_one_delivery(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """Hand-backs do not count; the delivery whose worker died holding it does."""
    dead = _worker_backend(redis_server.url, redis_prefix, make_settings)
    live = _worker_backend(redis_server.url, redis_prefix, make_settings)
    try:
        await dead.queue.put("a")
        [taken] = await dead.queue.take(1, timeout=1)
        for _ in range(3):
            await dead.queue.release(taken)
            [taken] = await dead.queue.take(1, timeout=1)
        await dead.close()  # dies holding it
        await asyncio.sleep(0.5)

        [again] = await live.queue.take(1, timeout=0)
    finally:
        await live.close()
    assert (taken.attempt, again.job_id, again.attempt) == (1, "a", 2)


async def test_a_hand_back_sent_again_changes_nothing(
    redis_server: RedisServer, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """The client sends a command again when its reply was lost: a hand-back that
    arrives twice counts once, and one that arrives after another worker took
    the job neither takes it back nor counts. The job's next delivery to a
    worker that dies holding it is its second."""
    first = _worker_backend(redis_server.url, redis_prefix, make_settings)
    second = _worker_backend(redis_server.url, redis_prefix, make_settings)
    third = _worker_backend(redis_server.url, redis_prefix, make_settings)
    try:
        await first.queue.put("a")
        [taken] = await first.queue.take(1, timeout=1)
        await first.queue.release(taken)
        await first.queue.release(taken)  # sent again before anyone took it
        [again] = await second.queue.take(1, timeout=1)
        await first.queue.release(taken)  # sent again after the second took it
        pending = await second.client.xpending_range(
            second.keys.queue, WORKERS_GROUP, min="-", max="+", count=10
        )
        await second.close()  # dies holding it
        await asyncio.sleep(0.5)

        [last] = await third.queue.take(1, timeout=0)
    finally:
        await first.close()
        await third.close()
    assert (again.job_id, again.attempt) == ("a", 1)
    assert [(p["consumer"], int(p["time_since_delivered"]) < 300) for p in pending] == [
        (second.queue.consumer, True)
    ]
    assert (last.job_id, last.attempt) == ("a", 2)


async def test_a_hand_back_while_redis_is_away_is_sent_once_it_is_back(
    tmp_path: Path, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """A worker hands its jobs back because it lost Redis, so the hand-back itself
    usually fails: the queue sends it when Redis answers again, and the job is
    delivered again without counting a delivery (and without waiting out its
    claim)."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    worker = _worker_backend(server.url, redis_prefix, make_settings)
    try:
        await worker.queue.put("a")
        [taken] = await worker.queue.take(1, timeout=1)
        server.kill()
        with pytest.raises(UnavailableError):
            await worker.queue.release(taken)
        server.start()

        [again] = await worker.queue.take(1, timeout=0)
    finally:
        await worker.close()
        server.stop()
    assert (again.job_id, again.receipt, again.attempt) == ("a", taken.receipt, 1)


async def test_an_ack_while_redis_is_away_is_sent_once_it_is_back(
    tmp_path: Path, redis_prefix: str, make_settings: SettingsFactory
) -> None:
    """A finished job whose ack could not reach Redis stays this worker's (its
    claim renewed, so no one runs it again) and is acked with the next take,
    not left pending in the stream until the worker stops."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    worker = _worker_backend(server.url, redis_prefix, make_settings)
    try:
        await worker.queue.put("a")
        [taken] = await worker.queue.take(1, timeout=1)
        server.kill()
        with pytest.raises(UnavailableError):
            await worker.queue.ack(taken)
        server.start()

        assert await worker.queue.take(1, timeout=0) == []
        pending: Any = await worker.client.xpending(worker.keys.queue, WORKERS_GROUP)
    finally:
        await worker.close()
        server.stop()
    assert pending["pending"] == 0


@pytest.mark.parametrize("reclaiming", [False, True])
async def test_a_queue_whose_data_redis_lost_is_made_again(
    redis_backend: RedisBackend, reclaiming: bool
) -> None:
    # A Redis restarted without its data has no stream and no group. Both ways a
    # take reads (taking over idle jobs, or reading new ones) must come back to
    # an empty queue and make the group again, not raise: a worker ends on an
    # error it does not know.
    queue = redis_backend.queue
    await queue.put("before")
    assert [d.job_id for d in await queue.take(1, timeout=1)] == ["before"]
    await redis_backend.client.delete(redis_backend.keys.queue)
    queue._next_reclaim = 0.0 if reclaiming else float("inf")

    assert await queue.take(1, timeout=0.1) == []
    await queue.put("after")
    assert [d.job_id for d in await queue.take(1, timeout=1)] == ["after"]
