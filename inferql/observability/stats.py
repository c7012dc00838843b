"""ServiceStats: how the service is doing over a recent window, for the
``stats`` subscription and the dashboard.

A ``StatsCollector`` follows every job event on the backend's event bus (the
events of every replica and every worker) and asks the queue for its depth and
its live workers, so it reads the same on any backend, in any replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from inferql.backends.base import Backend
from inferql.errors import BadUserInputError, OverloadedError, UnavailableError
from inferql.jobs.model import JobEvent, JobStatus

logger = logging.getLogger(__name__)

# Jobs in flight and recently finished that the collector remembers, at most:
# enough for any real backlog, bounded if terminal events go missing.
_MAX_TRACKED = 100_000
_RETRY_S = 1.0
MIN_INTERVAL_MS = 100
MAX_INTERVAL_MS = 60_000

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class ServiceStats:
    at: datetime
    window_s: float
    texts_per_second: float
    """Texts of the jobs that succeeded in the window, per second."""
    jobs: Mapping[JobStatus, int]
    """QUEUED and RUNNING: jobs in flight now; the others: jobs that ended in the window."""
    queue_depth: int
    batches: int
    """Model calls in the window."""
    mean_batch_size: float | None
    """Mean texts per model call in the window; None without a call."""
    latency_p50_ms: float | None
    """Median time from submission to result of the jobs that ended in the window."""
    latency_p95_ms: float | None
    workers_alive: int


@dataclass(frozen=True, slots=True)
class _Finished:
    at: float
    status: JobStatus
    texts: int
    latency_s: float | None


class StatsCollector:
    def __init__(
        self,
        backend: Backend,
        *,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._window = window_s
        self._clock = clock
        self._started = clock()
        self._in_flight: OrderedDict[str, tuple[JobStatus, int]] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._finished: deque[_Finished] = deque()
        self._batches: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self.subscribed = asyncio.Event()
        self._latest: tuple[float, ServiceStats] | None = None  # (when, the last shared one)
        self._taking: asyncio.Task[ServiceStats] | None = None

    async def run(self) -> None:
        """Follow the job events until the backend closes its event bus."""
        while True:
            try:
                async with self._backend.events.subscribe() as events:
                    self.subscribed.set()
                    async for event in events:
                        self.observe(event)
                return
            except OverloadedError:
                logger.warning("stats fell behind the job events; following them again")
                # What it missed may have ended jobs it counts in flight: forget
                # them (they come back with their next event), lest they stay.
                self._in_flight.clear()
            except UnavailableError as error:
                logger.warning("stats lost the job events (%s); retrying", error.message)
                self._in_flight.clear()  # as above
                await asyncio.sleep(_RETRY_S)

    def observe(self, event: JobEvent) -> None:
        """Take one job event into account."""
        now = self._clock()
        job = event.job
        if event.batch is not None and event.batch.id not in self._batches:
            self._batches[event.batch.id] = (now, event.batch.texts)
        if job.id in self._ended:
            return  # a late event of a job that has already ended
        if not job.status.terminal:
            known = self._in_flight.get(job.id)
            if known is None or known[1] < job.revision:
                self._in_flight[job.id] = (job.status, job.revision)
                _trim(self._in_flight)
            return
        self._in_flight.pop(job.id, None)
        self._ended[job.id] = None
        _trim(self._ended)
        latency = None
        if job.status is not JobStatus.CANCELED and job.finished_at is not None:
            latency = max(0.0, (job.finished_at - job.created_at).total_seconds())
        self._finished.append(_Finished(now, job.status, job.total, latency))

    async def snapshot(self) -> ServiceStats:
        """The stats now. UnavailableError if the backend does not answer."""
        depth = await self._backend.queue.depth()
        workers = await self._backend.queue.workers_alive()
        now = self._clock()
        self._forget_before(now - self._window)
        jobs = dict.fromkeys(JobStatus, 0)
        for status, _ in self._in_flight.values():
            jobs[status] += 1
        for finished in self._finished:
            jobs[finished.status] += 1
        succeeded = sum(f.texts for f in self._finished if f.status is JobStatus.SUCCEEDED)
        latencies = sorted(f.latency_s for f in self._finished if f.latency_s is not None)
        sizes = [texts for _, texts in self._batches.values()]
        span = max(1.0, min(self._window, now - self._started))
        return ServiceStats(
            at=datetime.now(UTC),
            window_s=self._window,
            texts_per_second=succeeded / span,
            jobs=jobs,
            queue_depth=depth,
            batches=len(sizes),
            mean_batch_size=sum(sizes) / len(sizes) if sizes else None,
            latency_p50_ms=_percentile_ms(latencies, 0.50),
            latency_p95_ms=_percentile_ms(latencies, 0.95),
            workers_alive=workers,
        )

    def stream(self, interval_ms: int) -> AsyncIterator[ServiceStats]:
        """A snapshot now, then one every ``interval_ms``. BadUserInputError for an
        interval outside 100 ms to 60 s."""
        if not MIN_INTERVAL_MS <= interval_ms <= MAX_INTERVAL_MS:
            raise BadUserInputError(
                f"`intervalMs` must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS}.",
                argument="intervalMs",
            )
        return self._stream(interval_ms / 1000)

    async def _stream(self, interval_s: float) -> AsyncIterator[ServiceStats]:
        while True:
            yield await self._shared_snapshot()
            await asyncio.sleep(interval_s)

    async def _shared_snapshot(self) -> ServiceStats:
        """The snapshot every stream sends: taken at most once every
        ``MIN_INTERVAL_MS`` by whichever stream asks first, the others given
        that one (or waiting for it), so a hundred dashboards cost one
        snapshot, not a hundred: each sorts the window's latencies and asks the
        backend twice."""
        now = time.monotonic()
        if self._latest is not None and now - self._latest[0] < MIN_INTERVAL_MS / 1000:
            return self._latest[1]
        if self._taking is None:
            self._taking = asyncio.create_task(self._take_shared(now), name="inferql-stats")
        return await asyncio.shield(self._taking)

    async def _take_shared(self, at: float) -> ServiceStats:
        try:
            stats = await self.snapshot()
            self._latest = (at, stats)
            return stats
        finally:
            self._taking = None

    def _forget_before(self, cutoff: float) -> None:
        while self._finished and self._finished[0].at < cutoff:
            self._finished.popleft()
        while self._batches and next(iter(self._batches.values()))[0] < cutoff:
            self._batches.popitem(last=False)


def _percentile_ms(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


def _trim(entries: OrderedDict[str, _V]) -> None:
    while len(entries) > _MAX_TRACKED:
        entries.popitem(last=False)
