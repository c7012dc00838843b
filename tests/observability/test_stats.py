"""ServiceStats from job events: the window, the percentiles, batch sizes and the
jobs in flight, on a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from inferql.backends.memory import MemoryBackend
from inferql.errors import BadUserInputError
from inferql.inference import ModelRef
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus
from inferql.observability.stats import StatsCollector
from tests.conftest import HarnessFactory, SettingsFactory

MODEL = ModelRef("sentiment", "1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def backend(make_settings: SettingsFactory) -> AsyncIterator[MemoryBackend]:
    built = MemoryBackend(make_settings())
    yield built
    await built.close()


def job(
    job_id: str, status: JobStatus, *, texts: int = 1, latency_ms: float = 0, revision: int = 0
) -> Job:
    finished = T0 + timedelta(milliseconds=latency_ms) if status.terminal else None
    return Job(
        id=job_id,
        model=MODEL,
        texts=tuple(f"t{i}" for i in range(texts)),
        status=status,
        created_at=T0,
        finished_at=finished,
        revision=revision,
    )


def succeeded(
    job_id: str, *, texts: int = 1, latency_ms: float = 0, batch: Batch | None = None
) -> JobEvent:
    return JobEvent(
        JobEventType.SUCCEEDED,
        job(job_id, JobStatus.SUCCEEDED, texts=texts, latency_ms=latency_ms, revision=2),
        batch,
    )


async def test_a_fresh_collector_reports_nothing_yet(backend: MemoryBackend) -> None:
    stats = await StatsCollector(backend, window_s=60).snapshot()

    assert stats.texts_per_second == 0
    assert set(stats.jobs.values()) == {0}
    assert (stats.queue_depth, stats.batches, stats.workers_alive) == (0, 0, 0)
    assert stats.mean_batch_size is None and stats.latency_p50_ms is None


async def test_throughput_latency_and_batches_over_the_window(backend: MemoryBackend) -> None:
    clock = Clock()
    collector = StatsCollector(backend, window_s=10, clock=clock)
    clock.now += 10  # the collector has run for a whole window
    shared = Batch("b1", texts=5)  # one model call serving two jobs
    collector.observe(succeeded("A", texts=2, latency_ms=100, batch=shared))
    collector.observe(succeeded("B", texts=3, latency_ms=300, batch=shared))
    collector.observe(succeeded("C", texts=1, latency_ms=200, batch=Batch("b2", texts=1)))
    collector.observe(
        JobEvent(JobEventType.FAILED, job("D", JobStatus.FAILED, latency_ms=1000, revision=2))
    )
    collector.observe(
        JobEvent(JobEventType.CANCELED, job("E", JobStatus.CANCELED, latency_ms=5, revision=1))
    )

    stats = await collector.snapshot()

    assert stats.texts_per_second == pytest.approx(6 / 10)  # succeeded texts only
    assert stats.batches == 2 and stats.mean_batch_size == pytest.approx(3.0)  # (5 + 1) / 2
    # Nearest rank over 100, 200, 300, 1000 ms (a canceled job has no latency).
    assert stats.latency_p50_ms == pytest.approx(200)
    assert stats.latency_p95_ms == pytest.approx(1000)
    assert stats.jobs[JobStatus.SUCCEEDED] == 3
    assert stats.jobs[JobStatus.FAILED] == stats.jobs[JobStatus.CANCELED] == 1

    clock.now += 10.5  # everything above is now older than the window
    later = await collector.snapshot()
    assert later.texts_per_second == 0 and later.batches == 0
    assert later.latency_p95_ms is None and later.jobs[JobStatus.SUCCEEDED] == 0


async def test_jobs_in_flight_follow_their_latest_event(backend: MemoryBackend) -> None:
    collector = StatsCollector(backend, window_s=60)
    collector.observe(JobEvent(JobEventType.QUEUED, job("A", JobStatus.QUEUED)))
    collector.observe(JobEvent(JobEventType.QUEUED, job("B", JobStatus.QUEUED)))
    collector.observe(JobEvent(JobEventType.STARTED, job("A", JobStatus.RUNNING, revision=1)))
    # An older event arriving late does not move a job back.
    collector.observe(JobEvent(JobEventType.QUEUED, job("A", JobStatus.QUEUED)))
    collector.observe(succeeded("B"))
    collector.observe(JobEvent(JobEventType.QUEUED, job("B", JobStatus.QUEUED)))

    jobs = (await collector.snapshot()).jobs

    assert (jobs[JobStatus.QUEUED], jobs[JobStatus.RUNNING], jobs[JobStatus.SUCCEEDED]) == (0, 1, 1)


async def test_the_collector_follows_the_event_bus_and_reads_the_queue(
    backend: MemoryBackend,
) -> None:
    collector = StatsCollector(backend, window_s=60)
    task = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.subscribed.wait(), 5)
    await backend.queue.put("queued-job")
    await backend.events.publish(succeeded("A", texts=4, batch=Batch("b", texts=4)))

    async with asyncio.timeout(5):
        while (stats := await collector.snapshot()).jobs[JobStatus.SUCCEEDED] == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await backend.close()
    await asyncio.wait_for(task, 5)  # a closed bus ends the collector

    assert stats.queue_depth == 1 and stats.mean_batch_size == 4


async def test_the_interval_must_be_sensible(backend: MemoryBackend) -> None:
    collector = StatsCollector(backend, window_s=60)
    for bad in (0, 99, 60_001):
        with pytest.raises(BadUserInputError, match="intervalMs"):
            collector.stream(bad)
    first = await anext(collector.stream(100))
    assert first.window_s == 60


async def test_stats_follow_real_jobs_on_every_backend(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=200, max_batch_texts=8)
    collector = StatsCollector(h.backend, window_s=60)
    task = asyncio.create_task(collector.run())
    try:
        await asyncio.wait_for(collector.subscribed.wait(), 5)
        jobs = await asyncio.gather(*(h.service.submit([f"s{i}", f"t{i}"]) for i in range(3)))
        await asyncio.gather(*(h.service.wait(job.id, 10) for job in jobs))
        async with asyncio.timeout(5):
            while (stats := await collector.snapshot()).jobs[JobStatus.SUCCEEDED] < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        task.cancel()

    sizes = [len(batch) for batch in h.models.batches]
    assert stats.batches == len(sizes)
    assert stats.mean_batch_size == pytest.approx(sum(sizes) / len(sizes))
    assert stats.workers_alive == 1 and stats.queue_depth == 0
    assert stats.jobs[JobStatus.QUEUED] == stats.jobs[JobStatus.RUNNING] == 0
    assert stats.latency_p50_ms is not None and stats.latency_p50_ms > 0


async def test_streams_share_one_snapshot(
    backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each snapshot sorts the window's latencies and asks the backend twice: a
    # hundred dashboards at the shortest interval must not cost a hundred.
    collector = StatsCollector(backend, window_s=60)
    depth = backend.queue.depth
    asked: list[None] = []

    async def counted() -> int:
        asked.append(None)
        return await depth()

    monkeypatch.setattr(backend.queue, "depth", counted)
    streams = [collector.stream(100) for _ in range(100)]
    firsts = await asyncio.gather(*(anext(stream) for stream in streams))
    seconds = await asyncio.gather(*(anext(stream) for stream in streams))

    assert len(asked) == 2  # one snapshot for each round, not one per stream
    assert len({id(s) for s in firsts}) == 1 and seconds[0].at > firsts[0].at


async def test_jobs_whose_end_was_missed_do_not_stay_in_flight(
    make_settings: SettingsFactory,
) -> None:
    """The collector fell behind the events and followed them again: what it
    missed may have ended the jobs it counts in flight, so they are forgotten,
    not counted QUEUED for good."""
    small = MemoryBackend(make_settings(subscriber_buffer=2))
    collector = StatsCollector(small, window_s=60)
    task = asyncio.create_task(collector.run())
    try:
        await asyncio.wait_for(collector.subscribed.wait(), 5)
        await small.events.publish(JobEvent(JobEventType.QUEUED, job("A", JobStatus.QUEUED)))
        async with asyncio.timeout(5):
            while (await collector.snapshot()).jobs[JobStatus.QUEUED] == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        collector.subscribed.clear()
        for other in "BCDE":  # more than the buffer, with A's end among them: overloaded
            await small.events.publish(succeeded(other))
        await small.events.publish(succeeded("A"))
        await asyncio.wait_for(collector.subscribed.wait(), 5)

        jobs = (await collector.snapshot()).jobs
    finally:
        task.cancel()
        await small.close()
    assert jobs[JobStatus.QUEUED] == 0
