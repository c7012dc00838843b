"""Every Redis key inferql uses, in one place, under one configurable prefix.

Several deployments (or test runs) can share one Redis by choosing different
prefixes. No other module spells a key name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from inferql.inference import ModelRef
from inferql.jobs.model import JobStatus

#: The consumer group of the work queue: every worker reads through it.
WORKERS_GROUP = "workers"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def job(self, job_id: str) -> str:
        """Hash: the job as JSON (``json``), its ``status`` and ``revision``."""
        return f"{self.prefix}job:{job_id}"

    @property
    def job_ids(self) -> str:
        """Sorted set of every job id (all scores 0, so ordered by id = by age)."""
        return f"{self.prefix}jobs"

    def job_ids_with(self, status: JobStatus) -> str:
        """Sorted set of the ids of jobs in one status."""
        return f"{self.prefix}jobs:{status.value.lower()}"

    @property
    def counters(self) -> str:
        """Hash: jobs ``submitted``, finished per status, ``dead_lettered``."""
        return f"{self.prefix}counters"

    @property
    def queue(self) -> str:
        """Stream of job ids waiting for a worker, read by the ``workers`` group."""
        return f"{self.prefix}queue"

    @property
    def queue_handbacks(self) -> str:
        """Hash: queue entry id -> how many of its deliveries were handed back unrun
        (they do not count towards ``max_deliveries``)."""
        return f"{self.prefix}queue:handbacks"

    @property
    def dead_letters(self) -> str:
        """Stream of jobs given up after too many deliveries."""
        return f"{self.prefix}queue:dead"

    @property
    def workers(self) -> str:
        """Sorted set: worker name -> time of its last heartbeat (ms)."""
        return f"{self.prefix}workers"

    @property
    def events(self) -> str:
        """Pub/sub channel of every job event."""
        return f"{self.prefix}events"

    def jobs_of(self, owner: str) -> str:
        """Sorted set of the ids of one owner's jobs (all scores 0, ordered by id)."""
        return f"{self.prefix}jobs:owner:{owner}"

    @property
    def api_keys(self) -> str:
        """Hash: API key id -> the key's record as JSON (its hash, never the key)."""
        return f"{self.prefix}apikeys"

    @property
    def webhook_secrets(self) -> str:
        """Hash: owner -> the secret that signs the owner's webhooks."""
        return f"{self.prefix}webhook-secrets"

    def idempotency(self, owner: str, key: str) -> str:
        """String (with a TTL): what one caller's idempotency key stands for, as JSON."""
        digest = hashlib.blake2b(f"{owner}\0{key}".encode(), digest_size=16).hexdigest()
        return f"{self.prefix}idempotency:{digest}"

    @property
    def rate_limits(self) -> str:
        """Prefix of the ``limits`` library's sliding-window counters."""
        return f"{self.prefix}ratelimit"

    @property
    def webhooks_due(self) -> str:
        """Sorted set: webhook delivery id -> when it is due (ms)."""
        return f"{self.prefix}webhooks:due"

    @property
    def webhooks(self) -> str:
        """Hash: webhook delivery id -> the delivery as JSON."""
        return f"{self.prefix}webhooks"

    def prediction(self, model: ModelRef, text: str) -> str:
        """String (with a TTL): the cached prediction of ``model`` for ``text``."""
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return f"{self.prefix}cache:{model}:{digest}"

    @property
    def persisted_queries(self) -> str:
        """Hash: automatic persisted queries' documents by their SHA-256 (hex)."""
        return f"{self.prefix}apq:documents"

    @property
    def persisted_queries_used(self) -> str:
        """Sorted set: each persisted query's hash, scored by its last use (us,
        Redis's clock): the least recently used go first."""
        return f"{self.prefix}apq:used"

    @property
    def persisted_queries_bytes(self) -> str:
        """String: the bytes of every document in ``persisted_queries``."""
        return f"{self.prefix}apq:bytes"
