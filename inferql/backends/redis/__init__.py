"""The scale-out backend: every API replica and worker shares one Redis.

Jobs are hashes (``store``), the work queue a Stream with a consumer group
(``queue``), events pub/sub (``events``), the inference cache and automatic
persisted queries strings with a TTL (``cache``, ``persisted``); every key name
is in ``keys``.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from limits.aio.storage import RedisStorage

from inferql.backends.ratelimit import LimitsRateLimitStore
from inferql.backends.redis.cache import RedisPredictionCache
from inferql.backends.redis.connection import connect, reaching_redis
from inferql.backends.redis.events import RedisEventBus
from inferql.backends.redis.idempotency import RedisIdempotencyStore
from inferql.backends.redis.keys import Keys
from inferql.backends.redis.persisted import RedisPersistedQueryStore
from inferql.backends.redis.queue import JOB_FIELD, RedisWorkQueue
from inferql.backends.redis.security import RedisKeyStore, RedisWebhookOutbox
from inferql.backends.redis.store import RedisJobStore
from inferql.backends.stores import WebhookDelivery
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus, event_for
from inferql.settings import Settings


def consumer_name() -> str:
    """This process's name in the consumer group: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RedisBackend:
    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            raise ValueError("the redis backend needs settings.redis_url")
        self.client = connect(settings.redis_url)
        self.keys = Keys(settings.redis_prefix)
        self.jobs = RedisJobStore(
            self.client, self.keys, retention=timedelta(seconds=settings.job_retention_s)
        )
        self.queue = RedisWorkQueue(
            self.client, self.keys, consumer=consumer_name(), claim_idle_ms=settings.claim_idle_ms
        )
        self.events = RedisEventBus(self.client, self.keys, buffer=settings.subscriber_buffer)
        self.cache = RedisPredictionCache(self.client, self.keys, ttl=settings.cache_ttl_s)
        self.api_keys = RedisKeyStore(self.client, self.keys)
        self.idempotency = RedisIdempotencyStore(self.client, self.keys)
        self.rate_limits = LimitsRateLimitStore(
            # On this client's pool, so that closing the client closes it too.
            RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=self.keys.rate_limits,
                wrap_exceptions=True,
                connection_pool=self.client.connection_pool,  # type: ignore[arg-type]
            )
        )
        self.webhooks = RedisWebhookOutbox(self.client, self.keys)
        self.persisted_queries = RedisPersistedQueryStore(
            self.client,
            self.keys,
            ttl=settings.apq_ttl_s,
            max_entries=settings.apq_max_entries,
            max_bytes=settings.apq_max_bytes,
        )

    async def submit(self, job: Job) -> bool:
        """Store, announce and enqueue ``job`` in one script: a crash cannot leave an
        accepted job that no worker will ever see."""
        return await self.jobs.create_announced(
            job, JobEvent(JobEventType.QUEUED, job), queue_field=JOB_FIELD
        )

    async def record_finished(self, job: Job, webhook: WebhookDelivery | None) -> bool:
        """Stored, announced and its webhook queued by one script."""
        return await self.jobs.create_announced(job, JobEvent(event_for(job), job), webhook=webhook)

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
        """The store's compare-and-set script publishes the event: one round trip,
        and no crash between the change and its announcement."""
        return await self.jobs.update_announcing(
            job_id, expect, event, known=known, batch=batch, **changes
        )

    async def advance_each(
        self,
        job_ids: Sequence[str],
        expect: frozenset[JobStatus],
        event: JobEventType,
        **changes: Any,
    ) -> list[JobEvent | None]:
        """A few pipelined round trips for all of them, not two per job
        (``update_each_announcing``)."""
        return await self.jobs.update_each_announcing(job_ids, expect, event, **changes)

    async def ping(self) -> None:
        async with reaching_redis():
            await self.client.ping()

    async def close(self) -> None:
        await self.queue.close()
        await self.events.close()
        await self.client.aclose()
