"""What the job path reports, in one place: the job service and the worker call
these hooks (one line each) and never touch metrics, logs or spans themselves.

Each hook records where the thing happened, so nothing is counted twice when
API replicas and workers run in separate processes: the API counts what it
submits and cancels, the worker what it runs.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from inferql.inference import ModelRef
from inferql.jobs.model import Batch, Job, JobEvent, JobEventType
from inferql.observability import metrics
from inferql.observability.logging import current_request_id
from inferql.observability.tracing import JobTracer
from inferql.settings import Settings

logger = logging.getLogger("inferql.jobs")

_batch_ids = itertools.count(1)

# A job's way to its end is on the event stream and in the metrics; at INFO the
# log has one line per job, its end (with its duration), beside each request's
# access line. Every transition is logged at DEBUG; a failure is a WARNING.
_LOG_LEVELS = {
    JobEventType.QUEUED: logging.DEBUG,
    JobEventType.STARTED: logging.DEBUG,
    JobEventType.PROGRESS: logging.DEBUG,
    JobEventType.SUCCEEDED: logging.INFO,
    JobEventType.CANCELED: logging.INFO,
    JobEventType.FAILED: logging.WARNING,
}


class JobTelemetry:
    def __init__(self, settings: Settings) -> None:
        self._tracer = JobTracer(enabled=settings.tracing != "off")
        self._max_batch_texts = settings.max_batch_texts
        # Unique across processes and restarts: pid and start time, then a counter.
        self._batch_prefix = f"{os.getpid():x}.{time.time_ns():x}"

    # -- in the API -----------------------------------------------------------

    def request_id(self) -> str | None:
        """The request id to stamp on a job created now."""
        return current_request_id()

    def trace_parent(self) -> str | None:
        """The ``traceparent`` to stamp on a job created now (None: tracing off)."""
        return self._tracer.trace_parent()

    def submitted(self, job: Job) -> None:
        metrics.child(metrics.JOBS_SUBMITTED, str(job.model)).inc()

    def cache_lookup(self, found: Sequence[object | None]) -> None:
        """Count the hits (not None) and misses of one cache lookup."""
        hits = sum(1 for item in found if item is not None)
        if hits:
            metrics.child(metrics.CACHE_LOOKUPS, "hit").inc(hits)
        if len(found) > hits:
            metrics.child(metrics.CACHE_LOOKUPS, "miss").inc(len(found) - hits)

    # -- wherever an event is published -------------------------------------------

    def event(self, event: JobEvent) -> None:
        """A job changed: a log line (see ``_LOG_LEVELS``), and the job's metrics
        and span."""
        job = event.job
        duration = _duration(job) if event.type.terminal else None
        level = _LOG_LEVELS[event.type]
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "job %s %s",
                job.id,
                event.type.value,
                extra={
                    "job_id": job.id,
                    "job_event": event.type.value,
                    "model": str(job.model),
                    "owner": job.owner,
                    "texts": job.total,
                    "done": job.done,
                    "batch_texts": event.batch.texts if event.batch else None,
                    "duration_ms": None if duration is None else round(duration * 1000, 3),
                    "error_code": job.error.code if job.error else None,
                    # The request that submitted the job, wherever this line is logged.
                    "request_id": job.request_id,
                },
            )
        if event.type is JobEventType.STARTED:
            self._tracer.start_job(job)
        if event.type.terminal:
            model, status = str(job.model), job.status.value
            metrics.child(metrics.JOBS_FINISHED, model, status).inc()
            if duration is not None:
                metrics.child(metrics.JOB_DURATION, model, status).observe(duration)
            self._tracer.end_job(job.id, job.status)

    # -- in the worker --------------------------------------------------------------

    @contextmanager
    def model_call(self, model: ModelRef, jobs: Sequence[Job], texts: int) -> Iterator[Batch]:
        """Around one model call: its span, latency, batch size and fill."""
        batch = Batch(id=f"{self._batch_prefix}.{next(_batch_ids)}", texts=texts)
        label = str(model)
        started = time.perf_counter()
        outcome = "error"
        try:
            with self._tracer.model_call(label, jobs, texts):
                yield batch
            outcome = "ok"
        finally:
            elapsed = time.perf_counter() - started
            metrics.child(metrics.MODEL_CALL_DURATION, label, outcome).observe(elapsed)
            metrics.child(metrics.BATCH_SIZE, label).observe(texts)
            metrics.child(metrics.BATCH_FILL, label).observe(texts / self._max_batch_texts)

    def released(self, job: Job) -> None:
        """The worker let go of ``job`` (finished, failed or canceled under it)."""
        self._tracer.end_job(job.id)


def _duration(job: Job) -> float | None:
    """Seconds from submission to the end (or to now, for a job not yet stamped)."""
    end = job.finished_at or datetime.now(UTC)
    return max(0.0, (end - job.created_at).total_seconds())
