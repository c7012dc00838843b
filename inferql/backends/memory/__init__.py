"""The embedded backend: everything in this process, nothing durable.

All state is touched only from the event loop and no method awaits between
reading and writing, so every operation is atomic without locks. The job path
(store, queue, events) is in :mod:`.jobs`; the other stores in :mod:`.stores`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from limits.aio.storage import MemoryStorage

from inferql.backends.keyfile import FileKeyStore, MemoryKeyStore
from inferql.backends.memory.jobs import MemoryEventBus, MemoryJobStore, MemoryWorkQueue
from inferql.backends.memory.stores import (
    MemoryIdempotencyStore,
    MemoryPersistedQueryStore,
    MemoryPredictionCache,
    MemoryWebhookOutbox,
)
from inferql.backends.ratelimit import LimitsRateLimitStore
from inferql.backends.stores import KeyStore, WebhookDelivery
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus, event_for
from inferql.settings import Settings

__all__ = [
    "MemoryBackend",
    "MemoryEventBus",
    "MemoryIdempotencyStore",
    "MemoryJobStore",
    "MemoryPersistedQueryStore",
    "MemoryPredictionCache",
    "MemoryWebhookOutbox",
    "MemoryWorkQueue",
]


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
            ttl=settings.apq_ttl_s,
            max_entries=settings.apq_max_entries,
            max_bytes=settings.apq_max_bytes,
        )

    async def submit(self, job: Job) -> bool:
        if await self.jobs.get(job.id) is not None:
            return False  # submitted already: announced and queued then
        await self.jobs.create(job)
        # Announce before queueing, so QUEUED is out before any worker's STARTED.
        await self.events.publish(JobEvent(JobEventType.QUEUED, job))
        await self.queue.put(job.id)
        return True

    async def record_finished(self, job: Job, webhook: WebhookDelivery | None) -> bool:
        if await self.jobs.get(job.id) is not None:
            return False  # recorded already: announced and its webhook queued then
        await self.jobs.create(job)
        await self.events.publish(JobEvent(event_for(job), job))
        if webhook is not None:
            await self.webhooks.add(webhook, due=time.time())
        return True

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
