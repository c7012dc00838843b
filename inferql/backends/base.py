"""The backend contract: five small interfaces, each with a memory and a Redis
implementation. Every method may raise ``inferql.errors.UnavailableError``
when the backend cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from inferql.inference import ModelRef, Prediction
from inferql.jobs.model import Job, JobEvent, JobStatus


@dataclass(frozen=True, slots=True)
class Delivery:
    """One job handed to a worker; ``ack`` it once the job's result is stored."""

    job_id: str
    receipt: str
    attempt: int = 1
    """How many times this job has been delivered, this time included."""


class JobStore(Protocol):
    async def create(self, job: Job) -> None:
        """Store a new job. Its id is new; no check is made."""

    async def get(self, job_id: str) -> Job | None:
        """The job, or None if it does not exist (or has expired)."""

    async def list(self, *, status: JobStatus | None, before: str | None, limit: int) -> list[Job]:
        """Up to ``limit`` jobs, newest first, with ids below ``before`` when given."""

    async def update(self, job_id: str, expect: frozenset[JobStatus], **changes: Any) -> Job | None:
        """Apply ``changes`` atomically if the job's status is in ``expect``, bump its
        revision and return the new job; return None (changing nothing) if the job
        is missing or in another status."""

    async def counters(self) -> dict[str, int]:
        """Jobs ``submitted`` ever, and finished per status (``succeeded``, ...)."""


class WorkQueue(Protocol):
    async def put(self, job_id: str) -> None:
        """Append a job to the queue."""

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for work; return 0 to ``limit`` deliveries."""

    async def ack(self, delivery: Delivery) -> None:
        """Mark a delivery done: it will not be delivered again."""

    async def release(self, delivery: Delivery) -> None:
        """Hand a delivery back unfinished: it is delivered again, to any worker."""

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


class PredictionCache(Protocol):
    async def get_many(self, model: ModelRef, texts: Sequence[str]) -> list[Prediction | None]:
        """One cached prediction (marked ``cached``) or None per text."""

    async def put_many(
        self, model: ModelRef, texts: Sequence[str], predictions: Sequence[Prediction]
    ) -> None:
        """Remember predictions of ``model`` for ``texts``."""


class PersistedQueryStore(Protocol):
    """Query documents by the SHA-256 of their text (hex), for automatic persisted
    queries. Entries may expire or be evicted: a miss is never an error."""

    async def get(self, sha256: str) -> str | None:
        """The document stored under ``sha256``, or None."""

    async def put(self, sha256: str, document: str) -> None:
        """Store ``document`` under ``sha256`` (the caller has checked the hash)."""


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
    def persisted_queries(self) -> PersistedQueryStore: ...

    async def submit(self, job: Job) -> None:
        """Store a new QUEUED job, announce it (a QUEUED event) and put it on the work
        queue, as one step where the backend can make it one."""

    async def ping(self) -> None:
        """Return if the backend answers; raise ``UnavailableError`` otherwise."""

    async def close(self) -> None:
        """Release connections and wake every waiter."""
