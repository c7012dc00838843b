"""The embedded backend: everything in this process, nothing durable.

All state is touched only from the event loop and no method awaits between
reading and writing, so every operation is atomic without locks.
"""

from __future__ import annotations

import asyncio
import bisect
import time
import weakref
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from limits.aio.storage import MemoryStorage

from inferql.backends.base import (
    Delivery,
    EventStream,
    IdempotencyRecord,
    KeyStore,
    WebhookDelivery,
)
from inferql.backends.fanout import Fanout
from inferql.backends.keyfile import FileKeyStore, MemoryKeyStore
from inferql.backends.ratelimit import LimitsRateLimitStore
from inferql.inference import ModelRef, Prediction
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus
from inferql.settings import Settings


class MemoryJobStore:
    def __init__(self, *, retention: timedelta, max_jobs: int) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids: list[str] = []  # ascending; ids sort by creation time
        self._ids_by_owner: dict[str, list[str]] = {}  # the same, per owner
        self._retention = retention
        self._max_jobs = max_jobs
        self._counters: Counter[str] = Counter()

    async def create(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._counters["submitted"] += 1
        if job.status.terminal:
            self._counters[job.status.value.lower()] += 1
        bisect.insort(self._ids, job.id)
        bisect.insort(self._ids_by_owner.setdefault(job.owner, []), job.id)
        self._evict()

    async def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def list(
        self,
        *,
        status: JobStatus | None,
        before: str | None,
        limit: int,
        owner: str | None = None,
    ) -> list[Job]:
        ids = self._ids if owner is None else self._ids_by_owner.get(owner, [])
        end = len(ids) if before is None else bisect.bisect_left(ids, before)
        page: list[Job] = []
        for i in range(end - 1, -1, -1):
            if len(page) == limit:
                break
            job = self._jobs[ids[i]]
            if status is None or job.status is status:
                page.append(job)
        return page

    async def update(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        *,
        known: Job | None = None,
        **changes: Any,
    ) -> Job | None:
        job = self._jobs.get(job_id)  # as cheap as trusting ``known``
        if job is None or job.status not in expect:
            return None
        new = job.evolve(**changes)
        self._jobs[job_id] = new
        if new.status.terminal and not job.status.terminal:
            self._counters[new.status.value.lower()] += 1
        return new

    async def counters(self) -> dict[str, int]:
        return dict(self._counters)

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
            gone = self._jobs.pop(self._ids.pop(0))
            owned = self._ids_by_owner[gone.owner]
            owned.pop(0)  # the owner's oldest is the oldest overall of theirs
            if not owned:
                del self._ids_by_owner[gone.owner]


class MemoryWorkQueue:
    def __init__(self) -> None:
        self._ready: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._receipts = 0
        self.dead_letters: list[tuple[Delivery, str]] = []
        # A worker registers itself by taking work: it counts as alive while the
        # task that took runs (a worker's loop is one task, from start to stop).
        self._takers: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()

    async def put(self, job_id: str) -> None:
        self._ready.append(job_id)
        self._wakeup.set()

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        task = asyncio.current_task()
        if task is not None:
            self._takers.add(task)
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

    async def ack(self, *deliveries: Delivery) -> None:
        # Nothing is redelivered in one process: a taken job is the worker's.
        return None

    async def release(self, delivery: Delivery) -> None:
        self._ready.appendleft(delivery.job_id)
        self._wakeup.set()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self.dead_letters.append((delivery, reason))

    async def depth(self) -> int:
        return len(self._ready)

    async def workers_alive(self) -> int:
        return sum(1 for task in self._takers if not task.done())


class MemoryEventBus:
    def __init__(self, *, buffer: int) -> None:
        self._fanout = Fanout(buffer=buffer)

    async def publish(self, event: JobEvent) -> None:
        self._fanout.deliver(event)

    def subscribe(self, job_id: str | None = None) -> AbstractAsyncContextManager[EventStream]:
        return self._fanout.subscribe(job_id)

    def ending(self, job_id: str) -> AbstractAsyncContextManager[Awaitable[JobEvent]]:
        return self._fanout.ending(job_id)

    def close(self) -> None:
        self._fanout.end_all()


class MemoryPredictionCache:
    """An LRU of predictions keyed by (model name@version, text)."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._entries: OrderedDict[tuple[ModelRef, str], tuple[float, Prediction]] = OrderedDict()
        self._ttl = ttl
        self._max_entries = max_entries

    async def get_many(self, model: ModelRef, texts: Sequence[str]) -> list[Prediction | None]:
        if not self._entries:  # empty, or the cache is off
            return [None] * len(texts)
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


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], tuple[float, IdempotencyRecord]] = {}
        self._claims = 0

    async def claim(
        self, owner: str, key: str, fingerprint: str, *, lock_s: float
    ) -> IdempotencyRecord | None:
        now = time.monotonic()
        found = self._records.get((owner, key))
        if found is not None and found[0] > now:
            return found[1]
        self._records[(owner, key)] = (now + lock_s, IdempotencyRecord(fingerprint))
        self._expire(now)
        return None

    async def complete(
        self, owner: str, key: str, job_id: str | None, *, retention_s: float
    ) -> None:
        found = self._records.get((owner, key))
        if found is not None:
            record = replace(found[1], done=True, job_id=job_id)
            self._records[(owner, key)] = (time.monotonic() + retention_s, record)

    async def release(self, owner: str, key: str) -> None:
        found = self._records.get((owner, key))
        if found is not None and not found[1].done:
            del self._records[(owner, key)]

    def _expire(self, now: float) -> None:
        # Lapsed records are harmless (a claim overwrites them); sweep now and then.
        self._claims += 1
        if self._claims % 256 == 0:
            for scope in [s for s, (expires, _) in self._records.items() if expires <= now]:
                del self._records[scope]


class MemoryWebhookOutbox:
    def __init__(self) -> None:
        self._due: dict[str, tuple[float, WebhookDelivery]] = {}

    async def add(self, delivery: WebhookDelivery, *, due: float) -> None:
        self._due[delivery.id] = (due, delivery)

    async def take(self, *, now: float, limit: int, lease_s: float) -> list[WebhookDelivery]:
        ready = sorted((d for d in self._due.values() if d[0] <= now), key=lambda d: d[0])
        taken = [delivery for _, delivery in ready[:limit]]
        for delivery in taken:
            self._due[delivery.id] = (now + lease_s, delivery)
        return taken

    async def reschedule(self, delivery: WebhookDelivery, *, due: float) -> None:
        if delivery.id in self._due:
            self._due[delivery.id] = (due, delivery)

    async def remove(self, delivery_id: str) -> None:
        self._due.pop(delivery_id, None)

    async def pending(self) -> int:
        return len(self._due)


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
        self.api_keys: KeyStore = (
            MemoryKeyStore()
            if settings.api_keys_file is None
            else FileKeyStore(settings.api_keys_file)
        )
        self.idempotency = MemoryIdempotencyStore()
        self.rate_limits = LimitsRateLimitStore(MemoryStorage())
        self.webhooks = MemoryWebhookOutbox()
        self.persisted_queries = MemoryPersistedQueryStore(
            ttl=settings.apq_ttl_s, max_entries=settings.apq_max_entries
        )

    async def submit(self, job: Job) -> None:
        await self.jobs.create(job)
        # Announce before queueing, so QUEUED is out before any worker's STARTED.
        await self.events.publish(JobEvent(JobEventType.QUEUED, job))
        await self.queue.put(job.id)

    async def advance(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        event: JobEventType,
        *,
        known: Job | None = None,
        batch: Batch | None = None,
        **changes: Any,
    ) -> JobEvent | None:
        job = await self.jobs.update(job_id, expect, known=known, **changes)
        if job is None:
            return None
        announced = JobEvent(event, job, batch)
        await self.events.publish(announced)
        return announced

    async def advance_each(
        self,
        job_ids: Sequence[str],
        expect: frozenset[JobStatus],
        event: JobEventType,
        **changes: Any,
    ) -> list[JobEvent | None]:
        return [await self.advance(job_id, expect, event, **changes) for job_id in job_ids]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.events.close()
