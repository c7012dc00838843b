"""The backend contract: small interfaces, each with a memory and a Redis
implementation. Every method may raise ``inferql.errors.UnavailableError``
when the backend cannot be reached.

Jobs: JobStore, WorkQueue, EventBus, PredictionCache, here. Security and
delivery (KeyStore, IdempotencyStore, RateLimitStore, WebhookOutbox,
PersistedQueryStore) in :mod:`inferql.backends.stores`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from inferql.backends.stores import (
    IdempotencyStore,
    KeyStore,
    PersistedQueryStore,
    RateLimitStore,
    WebhookDelivery,
    WebhookOutbox,
)
from inferql.inference import ModelRef, Prediction
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus


@dataclass(frozen=True, slots=True)
class Delivery:
    """One job handed to a worker; ``ack`` it once the job's result is stored."""

    job_id: str
    receipt: str
    attempt: int = 1
    """How many times this job has been delivered, this time included; a delivery
    handed back unrun (``WorkQueue.release``) does not count."""


class JobStore(Protocol):
    async def create(self, job: Job) -> None:
        """Store a new job. If a job with its id exists already (a create sent
        again, or two requests creating one idempotent job), change nothing."""

    async def get(self, job_id: str) -> Job | None:
        """The job, or None if it does not exist (or has expired)."""

    async def list(
        self,
        *,
        status: JobStatus | None,
        before: str | None,
        limit: int,
        owner: str | None = None,
    ) -> list[Job]:
        """Up to ``limit`` jobs, newest first, with ids below ``before`` when given,
        only those of ``owner`` when given."""

    async def update(
        self,
        job_id: str,
        expect: frozenset[JobStatus],
        *,
        known: Job | None = None,
        **changes: Any,
    ) -> Job | None:
        """Apply ``changes`` atomically if the job's status is in ``expect``, bump its
        revision and return the new job; return None (changing nothing) if the job
        is missing or in another status. ``known``: the caller's copy of the job as
        an earlier call returned it, which a backend may try before reading the
        job (applied only if the job has not changed since)."""

    async def counters(self) -> dict[str, int]:
        """Jobs ``submitted`` ever, and finished per status (``succeeded``, ...)."""


class WorkQueue(Protocol):
    async def put(self, job_id: str) -> None:
        """Append a job to the queue."""

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for work; return 0 to ``limit`` deliveries."""

    async def ack(self, *deliveries: Delivery) -> None:
        """Mark deliveries done: none will be delivered again (all of them in one
        step, where the backend can make it one)."""

    async def release(self, delivery: Delivery) -> None:
        """Hand a delivery back unrun: it is delivered again, to any worker, with
        the same ``attempt`` (a hand-back is no failed delivery). A backend that
        could not be reached sends it later, before this queue's next ``take``."""

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Give up on a delivery: move it to the dead letters, never to be retried."""

    async def depth(self) -> int:
        """Jobs waiting for a worker."""

    async def workers_alive(self) -> int:
        """Workers serving this queue now, in every process that shares it."""


class EventStream(Protocol):
    def __aiter__(self) -> AsyncIterator[JobEvent]: ...


class EventBus(Protocol):
    async def publish(self, event: JobEvent) -> None:
        """Deliver ``event`` to every subscriber of its job and of all jobs."""

    def subscribe(self, job_id: str | None = None) -> AbstractAsyncContextManager[EventStream]:
        """Events of one job (or of every job when ``job_id`` is None) published
        after this call returns. A subscriber that falls too far behind gets
        ``OverloadedError`` from its iterator instead of unbounded buffering."""

    def ending(self, job_id: str) -> AbstractAsyncContextManager[Awaitable[JobEvent]]:
        """While entered, awaiting what it gives is the terminal event of ``job_id``
        published after it was entered; ``UnavailableError`` if the events stop
        first. For whoever waits only for the end: no buffer of earlier events."""


class PredictionCache(Protocol):
    async def get_many(self, model: ModelRef, texts: Sequence[str]) -> list[Prediction | None]:
        """One cached prediction (marked ``cached``) or None per text."""

    async def put_many(
        self, model: ModelRef, texts: Sequence[str], predictions: Sequence[Prediction]
    ) -> None:
        """Remember predictions of ``model`` for ``texts``."""


class Backend(Protocol):
    @property
    def jobs(self) -> JobStore: ...

    @property
    def queue(self) -> WorkQueue: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def cache(self) -> PredictionCache: ...

    @property
    def api_keys(self) -> KeyStore: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    @property
    def rate_limits(self) -> RateLimitStore: ...

    @property
    def webhooks(self) -> WebhookOutbox: ...

    @property
    def persisted_queries(self) -> PersistedQueryStore: ...

    async def submit(self, job: Job) -> bool:
        """Store a new QUEUED job, announce it (a QUEUED event) and put it on the work
        queue, as one step where the backend can make it one. Nothing at all
        happens for a job whose id exists already: False then, True otherwise."""

    async def record_finished(self, job: Job, webhook: WebhookDelivery | None) -> bool:
        """Store a job that ended as it was made (every text was in the cache),
        announce its end and put its ``webhook`` (if any) in the outbox, due now,
        as one step where the backend can make it one: no worker will see the
        job, so no redelivery would announce it or send its webhook later.
        Nothing at all happens for a job whose id exists already (False)."""

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
        """``jobs.update`` and, if it applied, announce the new job with an ``event``
        event (of ``batch``), as one step where the backend can make it one: the
        event published, or None when the update did not apply."""

    async def advance_each(
        self,
        job_ids: Sequence[str],
        expect: frozenset[JobStatus],
        event: JobEventType,
        **changes: Any,
    ) -> list[JobEvent | None]:
        """``advance`` of every job in ``job_ids`` with the same changes (a worker
        starting the jobs of one read), in as few round trips as the backend can.
        Each job applies or not on its own; one result per id, in order."""

    async def ping(self) -> None:
        """Return if the backend answers; raise ``UnavailableError`` otherwise."""

    async def close(self) -> None:
        """Release connections and wake every waiter."""
