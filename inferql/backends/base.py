"""The backend contract: small interfaces, each with a memory and a Redis
implementation. Every method may raise ``inferql.errors.UnavailableError``
when the backend cannot be reached.

Jobs: JobStore, WorkQueue, EventBus, PredictionCache. Security and delivery:
KeyStore (API keys, webhook secrets), IdempotencyStore, RateLimitStore and
WebhookOutbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from inferql.inference import ModelRef, Prediction
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType, JobStatus
from inferql.security.apikeys import ApiKey


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


class KeyStore(Protocol):
    """API keys (hashed) and each owner's webhook signing secret."""

    async def add(self, key: ApiKey) -> None:
        """Store a new key."""

    async def find(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not; None if there is none."""

    async def all(self) -> list[ApiKey]:
        """Every key, oldest first."""

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Mark a key revoked (it stops working at once) and return it; None if
        there is no such key. Revoking twice keeps the first time."""

    async def webhook_secret(self, owner: str) -> str | None:
        """The secret that signs ``owner``'s webhooks, or None if it has none."""

    async def set_webhook_secret(self, owner: str, secret: str) -> None:
        """Give ``owner`` a (new) webhook secret."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What one idempotency key stands for: the fingerprint of the request that
    first used it, and the job that request creates under it (its id is chosen
    before the job is created, so it is known while the request is in flight).

    ``holder`` names the request that holds (or last held) the key. An in-flight
    record is ``locked`` while its holder's lock lasts; once the lock lapses (the
    holder died, or gave up not knowing whether its job was created) the record
    stays, for the next claim to settle: replay the job if it exists, else take
    the key over with the same job id. ``locked`` is as a store read it; a
    record given to a store leaves it False."""

    fingerprint: str
    done: bool = False
    job_id: str | None = None
    holder: str = ""
    locked: bool = False


class IdempotencyStore(Protocol):
    """Every write is safe to send again (a client resends after a lost reply)."""

    async def claim(
        self, owner: str, key: str, record: IdempotencyRecord, *, lock_s: float, retention_s: float
    ) -> IdempotencyRecord | None:
        """Atomically store ``record`` in flight for (owner, key), locked ``lock_s``
        seconds and kept ``retention_s``, unless a record exists. Return None when
        it was stored (or is already this holder's) and the existing record
        otherwise."""

    async def take_over(
        self,
        owner: str,
        key: str,
        previous_holder: str,
        record: IdempotencyRecord,
        *,
        lock_s: float,
        retention_s: float,
    ) -> bool:
        """Replace an in-flight record of ``previous_holder`` whose lock has lapsed
        by ``record``, locked and kept as ``claim`` does; whether it was replaced
        (or is already this holder's)."""

    async def complete(
        self, owner: str, key: str, holder: str, job_id: str | None, *, retention_s: float
    ) -> None:
        """Mark the record of ``holder`` done with the job it created (None: none);
        keep it ``retention_s``. A record of another holder is left alone."""

    async def release(self, owner: str, key: str, holder: str) -> None:
        """Lapse the lock of ``holder``'s in-flight record now: it gave up. The
        record is kept, so the next claim settles it from its job id."""


@dataclass(frozen=True, slots=True)
class RateLimitWindow:
    """A sliding-window counter as the store sees it: the count of the previous
    and of the current window, and the seconds until each expires."""

    previous_count: int
    previous_expires_in: float
    current_count: int
    current_expires_in: float


class RateLimitStore(Protocol):
    async def hit(self, key: str, cost: int, *, limit: int, window_s: int) -> bool:
        """Count ``cost`` against ``key`` if that keeps it within ``limit`` per
        ``window_s`` (a sliding window); return whether it was counted."""

    async def window(self, key: str, *, limit: int, window_s: int) -> RateLimitWindow:
        """The counters of ``key`` now."""


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One webhook to send. ``id`` is the Standard Webhooks message id: the same
    for every attempt, so a receiver can drop duplicates."""

    id: str
    job_id: str
    owner: str
    url: str
    payload: str
    attempt: int = 0


class WebhookOutbox(Protocol):
    async def add(self, delivery: WebhookDelivery, *, due: float) -> None:
        """Store a delivery to send at ``due`` (a Unix time), unless one with its id
        is there already (a job's end announced again): that one keeps its
        schedule and its attempt count."""

    async def take(self, *, now: float, limit: int, lease_s: float) -> list[WebhookDelivery]:
        """Up to ``limit`` deliveries due by ``now``, each leased for ``lease_s``
        seconds: a lease that lapses (its sender died) makes it due again."""

    async def reschedule(self, delivery: WebhookDelivery, *, due: float) -> None:
        """Store ``delivery`` (with its attempt count) to be sent again at ``due``,
        if it is still there: one removed meanwhile (another dispatcher, whose
        lease it was by then, sent it) stays removed."""

    async def remove(self, delivery_id: str) -> None:
        """Forget a delivery: it was sent, or it will never be."""

    async def pending(self) -> int:
        """Deliveries not yet sent."""


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
