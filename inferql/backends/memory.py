"""The embedded backend: everything in this process, nothing durable.

All state is touched only from the event loop and no method awaits between
reading and writing, so every operation is atomic without locks.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from inferql.backends.base import Delivery, EventStream
from inferql.errors import OverloadedError
from inferql.inference import ModelRef, Prediction
from inferql.jobs.model import Job, JobEvent, JobStatus
from inferql.settings import Settings


class MemoryJobStore:
    def __init__(self, *, retention: timedelta, max_jobs: int) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids: list[str] = []  # ascending; ids sort by creation time
        self._retention = retention
        self._max_jobs = max_jobs

    async def create(self, job: Job) -> None:
        self._jobs[job.id] = job
        bisect.insort(self._ids, job.id)
        self._evict()

    async def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def list(self, *, status: JobStatus | None, before: str | None, limit: int) -> list[Job]:
        end = len(self._ids) if before is None else bisect.bisect_left(self._ids, before)
        page: list[Job] = []
        for i in range(end - 1, -1, -1):
            if len(page) == limit:
                break
            job = self._jobs[self._ids[i]]
            if status is None or job.status is status:
                page.append(job)
        return page

    async def update(self, job_id: str, expect: frozenset[JobStatus], **changes: Any) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.status not in expect:
            return None
        job = job.evolve(**changes)
        self._jobs[job_id] = job
        return job

    def _evict(self) -> None:
        """Drop the oldest jobs while they are finished past retention, or while
        the store holds more than it may."""
        cutoff = datetime.now(UTC) - self._retention
        while self._ids:
            oldest = self._jobs[self._ids[0]]
            expired = (
                oldest.status.terminal
                and oldest.finished_at is not None
                and oldest.finished_at < cutoff
            )
            if not expired and len(self._ids) <= self._max_jobs:
                return
            del self._jobs[self._ids.pop(0)]


class MemoryWorkQueue:
    def __init__(self) -> None:
        self._ready: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._receipts = 0

    async def put(self, job_id: str) -> None:
        self._ready.append(job_id)
        self._wakeup.set()

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        if not self._ready and timeout > 0:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return []
        taken: list[Delivery] = []
        while self._ready and len(taken) < limit:
            self._receipts += 1
            taken.append(Delivery(self._ready.popleft(), str(self._receipts)))
        return taken

    async def ack(self, delivery: Delivery) -> None:
        # Nothing is redelivered in one process: a taken job is the worker's.
        return None

    async def depth(self) -> int:
        return len(self._ready)


class _Subscriber:
    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[JobEvent | None] = asyncio.Queue(maxsize=buffer)
        self.lagged = False

    def offer(self, event: JobEvent | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while not self.lagged or not self.queue.empty():
            event = await self.queue.get()
            if event is None:
                return
            yield event
        raise OverloadedError("This subscription fell too far behind its events; subscribe again.")


class MemoryEventBus:
    def __init__(self, *, buffer: int) -> None:
        self._buffer = buffer
        self._by_job: dict[str | None, set[_Subscriber]] = {}

    async def publish(self, event: JobEvent) -> None:
        for key in (event.job.id, None):
            for subscriber in self._by_job.get(key, ()):
                subscriber.offer(event)

    @asynccontextmanager
    async def subscribe(self, job_id: str | None = None) -> AsyncIterator[EventStream]:
        subscriber = _Subscriber(self._buffer)
        self._by_job.setdefault(job_id, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._by_job[job_id]
            subscribers.discard(subscriber)
            if not subscribers:
                del self._by_job[job_id]

    def close(self) -> None:
        for subscribers in self._by_job.values():
            for subscriber in subscribers:
                subscriber.offer(None)


class MemoryPredictionCache:
    """An LRU of predictions keyed by (model name@version, text)."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._entries: OrderedDict[tuple[ModelRef, str], tuple[float, Prediction]] = OrderedDict()
        self._ttl = ttl
        self._max_entries = max_entries

    async def get_many(self, model: ModelRef, texts: Sequence[str]) -> list[Prediction | None]:
        return list(self._lookup(model, texts))

    def _lookup(self, model: ModelRef, texts: Sequence[str]) -> Iterator[Prediction | None]:
        now = time.monotonic()
        for text in texts:
            entry = self._entries.get((model, text))
            if entry is None or entry[0] < now:
                yield None
                continue
            self._entries.move_to_end((model, text))
            yield entry[1]

    async def put_many(
        self, model: ModelRef, texts: Sequence[str], predictions: Sequence[Prediction]
    ) -> None:
        if self._ttl <= 0 or self._max_entries <= 0:
            return
        expires = time.monotonic() + self._ttl
        for text, prediction in zip(texts, predictions, strict=True):
            self._entries[(model, text)] = (expires, replace(prediction, cached=True))
            self._entries.move_to_end((model, text))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class MemoryPersistedQueryStore:
    """An LRU of query documents by hash; an entry lives ``ttl`` seconds after it
    was last stored or read."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._ttl = ttl
        self._max_entries = max_entries

    async def get(self, sha256: str) -> str | None:
        entry = self._entries.get(sha256)
        now = time.monotonic()
        if entry is None or entry[0] < now:
            return None
        self._entries[sha256] = (now + self._ttl, entry[1])
        self._entries.move_to_end(sha256)
        return entry[1]

    async def put(self, sha256: str, document: str) -> None:
        self._entries[sha256] = (time.monotonic() + self._ttl, document)
        self._entries.move_to_end(sha256)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class MemoryBackend:
    """The embedded backend; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.jobs = MemoryJobStore(
            retention=timedelta(seconds=settings.job_retention_s),
            max_jobs=settings.max_jobs_in_memory,
        )
        self.queue = MemoryWorkQueue()
        self.events = MemoryEventBus(buffer=settings.subscriber_buffer)
        self.cache = MemoryPredictionCache(
            ttl=settings.cache_ttl_s, max_entries=settings.cache_max_entries
        )
        self.persisted_queries = MemoryPersistedQueryStore(
            ttl=settings.apq_ttl_s, max_entries=settings.apq_max_entries
        )

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.events.close()
