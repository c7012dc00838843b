"""Service statistics, as the ``stats`` subscription streams them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from inferql.jobs.model import JobStatus as DomainJobStatus
from inferql.observability.stats import ServiceStats as DomainStats


@strawberry.type(
    description="Jobs by status: QUEUED and RUNNING count the jobs in flight now, the "
    "others the jobs that ended within the window."
)
class JobCounts:
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int


@strawberry.type(description="How the service is doing over a recent window.")
class ServiceStats:
    at: datetime = strawberry.field(description="When these figures were taken.")
    window_seconds: float = strawberry.field(
        description="The window the rates and percentiles cover (INFERQL_STATS_WINDOW_S)."
    )
    texts_per_second: float = strawberry.field(
        description="Throughput: texts of the jobs that succeeded in the window, per second."
    )
    jobs: JobCounts
    queue_depth: int = strawberry.field(description="Jobs waiting for a worker now.")
    batches: int = strawberry.field(description="Model calls in the window.")
    mean_batch_size: float | None = strawberry.field(
        description="Mean texts per model call in the window; null without a call."
    )
    latency_p50_ms: float | None = strawberry.field(
        description="Median time from submission to result of the jobs that ended in the "
        "window, in milliseconds; null without one."
    )
    latency_p95_ms: float | None = strawberry.field(
        description="95th percentile of the same, in milliseconds."
    )
    workers_alive: int = strawberry.field(description="Workers serving the queue now.")

    @classmethod
    def from_domain(cls, stats: DomainStats) -> ServiceStats:
        counts = stats.jobs
        return cls(
            at=stats.at,
            window_seconds=stats.window_s,
            texts_per_second=stats.texts_per_second,
            jobs=JobCounts(
                queued=counts[DomainJobStatus.QUEUED],
                running=counts[DomainJobStatus.RUNNING],
                succeeded=counts[DomainJobStatus.SUCCEEDED],
                failed=counts[DomainJobStatus.FAILED],
                canceled=counts[DomainJobStatus.CANCELED],
            ),
            queue_depth=stats.queue_depth,
            batches=stats.batches,
            mean_batch_size=stats.mean_batch_size,
            latency_p50_ms=stats.latency_p50_ms,
            latency_p95_ms=stats.latency_p95_ms,
            workers_alive=stats.workers_alive,
        )
