"""The embedded job path: the job store, the work queue and the event bus.

All state is touched only from the event loop and no method awaits between
reading and writing, so every operation is atomic without locks.
"""

from __future__ import annotations

import asyncio
import bisect
import weakref
from collections import Counter, deque
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from inferql.backends.base import Delivery, EventStream
from inferql.backends.fanout import Fanout
from inferql.jobs.model import Job, JobEvent, JobStatus


class MemoryJobStore:
    def __init__(self, *, retention: timedelta, max_jobs: int) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids: list[str] = []  # ascending; ids sort by creation time
        self._ids_by_owner: dict[str, list[str]] = {}  # the same, per owner
        self._retention = retention
        self._max_jobs = max_jobs
        self._counters: Counter[str] = Counter()

    async def create(self, job: Job) -> None:
        if job.id in self._jobs:
            return  # sent again: one job of this id, counted once
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
        # First in line again; its next delivery's attempt is 1, as every one is.
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
