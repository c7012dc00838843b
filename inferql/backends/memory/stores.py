"""The embedded stores beside the job path: the inference cache, idempotency
records, the webhook outbox and persisted queries. Atomic as the job path is:
no method awaits between reading and writing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from inferql.backends.stores import IdempotencyRecord, WebhookDelivery
from inferql.inference import ModelRef, Prediction


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


@dataclass(slots=True)
class _Entry:
    record: IdempotencyRecord  # as stored: ``locked`` is False
    expires: float
    locked_until: float = 0.0


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], _Entry] = {}
        self._claims = 0

    async def claim(
        self, owner: str, key: str, record: IdempotencyRecord, *, lock_s: float, retention_s: float
    ) -> IdempotencyRecord | None:
        now = time.monotonic()
        found = self._found(owner, key, now)
        if found is not None and found.record.holder != record.holder:
            locked = not found.record.done and found.locked_until > now
            return replace(found.record, locked=locked)
        if found is None:
            self._store(owner, key, record, now, lock_s=lock_s, retention_s=retention_s)
        self._expire(now)
        return None

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
        now = time.monotonic()
        found = self._found(owner, key, now)
        if found is None or found.record.done:
            return False
        if found.record.holder == record.holder:
            return True  # taken over already
        if found.record.holder != previous_holder or found.locked_until > now:
            return False
        self._store(owner, key, record, now, lock_s=lock_s, retention_s=retention_s)
        return True

    async def complete(
        self, owner: str, key: str, holder: str, job_id: str | None, *, retention_s: float
    ) -> None:
        found = self._found(owner, key, time.monotonic())
        if found is not None and found.record.holder == holder and not found.record.done:
            found.record = replace(found.record, done=True, job_id=job_id)
            found.expires = time.monotonic() + retention_s

    async def release(self, owner: str, key: str, holder: str) -> None:
        found = self._found(owner, key, time.monotonic())
        if found is not None and found.record.holder == holder:
            found.locked_until = 0.0

    def _found(self, owner: str, key: str, now: float) -> _Entry | None:
        entry = self._records.get((owner, key))
        return entry if entry is not None and entry.expires > now else None

    def _store(
        self,
        owner: str,
        key: str,
        record: IdempotencyRecord,
        now: float,
        *,
        lock_s: float,
        retention_s: float,
    ) -> None:
        stored = replace(record, done=False, locked=False)
        self._records[(owner, key)] = _Entry(stored, now + retention_s, now + lock_s)

    def _expire(self, now: float) -> None:
        # Expired records are harmless (a claim overwrites them); sweep now and then.
        self._claims += 1
        if self._claims % 256 == 0:
            for scope in [s for s, entry in self._records.items() if entry.expires <= now]:
                del self._records[scope]


class MemoryWebhookOutbox:
    def __init__(self) -> None:
        self._due: dict[str, tuple[float, WebhookDelivery]] = {}

    async def add(self, delivery: WebhookDelivery, *, due: float) -> None:
        self._due.setdefault(delivery.id, (due, delivery))

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
    """An LRU of query documents by hash, bounded by count and by the bytes of
    its documents; an entry lives ``ttl`` seconds after it was last stored or
    read. A document larger than the whole budget is not kept."""

    def __init__(self, *, ttl: float, max_entries: int, max_bytes: int) -> None:
        self._entries: OrderedDict[str, tuple[float, str, int]] = OrderedDict()
        self._ttl = ttl
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.bytes = 0  # of the documents kept, in UTF-8

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, sha256: str) -> str | None:
        entry = self._entries.get(sha256)
        now = time.monotonic()
        if entry is None:
            return None
        if entry[0] < now:
            self._drop(sha256)
            return None
        self._entries[sha256] = (now + self._ttl, entry[1], entry[2])
        self._entries.move_to_end(sha256)
        return entry[1]

    async def put(self, sha256: str, document: str) -> None:
        size = len(document.encode())
        if size > self._max_bytes:
            return
        if sha256 in self._entries:
            self._drop(sha256)
        self._entries[sha256] = (time.monotonic() + self._ttl, document, size)
        self.bytes += size
        while len(self._entries) > self._max_entries or self.bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, sha256: str) -> None:
        self.bytes -= self._entries.pop(sha256)[2]
