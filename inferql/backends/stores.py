"""The backend contract's stores for security and delivery: API keys and
webhook secrets, idempotency records, rate limits, the webhook outbox and
persisted queries. Each has a memory and a Redis implementation (the job path's
interfaces, and ``Backend`` itself, are in :mod:`inferql.backends.base`). Every
method may raise ``inferql.errors.UnavailableError`` when the backend cannot be
reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from inferql.security.apikeys import ApiKey


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
