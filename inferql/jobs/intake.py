"""Taking delivered jobs into a worker: each is marked RUNNING, all in one step.

A delivery is not always a fresh job. One whose worker died while running it
comes back RUNNING and runs again; one that was canceled, or that its worker
finished and then died before acking, is acked and left out (a finished one
has its end announced again first). A job delivered more often than
``max_deliveries`` is dead-lettered: every worker that took it died.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from inferql.backends.base import Backend, Delivery
from inferql.errors import ErrorCode
from inferql.jobs import webhooks
from inferql.jobs.model import Job, JobError, JobEvent, JobEventType, JobStatus
from inferql.observability.jobs import JobTelemetry

logger = logging.getLogger(__name__)

# The ends a worker reaches, and the event of each.
FINISHED = {JobStatus.SUCCEEDED: JobEventType.SUCCEEDED, JobStatus.FAILED: JobEventType.FAILED}
_QUEUED = frozenset({JobStatus.QUEUED})
_UNFINISHED = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class Intake:
    def __init__(self, backend: Backend, telemetry: JobTelemetry, max_deliveries: int) -> None:
        self._backend = backend
        self._telemetry = telemetry
        self._max_deliveries = max_deliveries

    async def start(self, deliveries: Sequence[Delivery]) -> list[tuple[Delivery, Job]]:
        """The delivered jobs to run, each with its delivery, marked RUNNING in one
        step (``Backend.advance_each``); the others are acked or dead-lettered."""
        fresh: list[Delivery] = []
        for delivery in deliveries:
            if delivery.attempt > self._max_deliveries:
                await self._dead_letter(delivery)
            else:
                fresh.append(delivery)
        events = await self._backend.advance_each(
            [d.job_id for d in fresh],
            _QUEUED,
            JobEventType.STARTED,
            status=JobStatus.RUNNING,
            started_at=datetime.now(UTC),
        )
        started: list[tuple[Delivery, Job]] = []
        for delivery, event in zip(fresh, events, strict=True):
            if event is not None:
                self._telemetry.event(event)
                started.append((delivery, event.job))
            elif (job := await self._not_started(delivery)) is not None:
                started.append((delivery, job))
        return started

    async def _not_started(self, delivery: Delivery) -> Job | None:
        """A delivered job that was not QUEUED: run again if a dead worker left it
        RUNNING; else acked (canceled, gone, or finished) and None."""
        current = await self._backend.jobs.get(delivery.job_id)
        if current is not None and current.status is JobStatus.RUNNING:
            return current  # redelivered after its worker died: run it again
        await self._let_go(delivery, current)
        return None

    async def _let_go(self, delivery: Delivery, current: Job | None) -> None:
        """Ack the delivery of a job that is over (canceled, gone, or finished); a
        finished one delivered again has its end announced again first."""
        if current is not None and current.status in FINISHED and delivery.attempt > 1:
            await self._announce_again(current)
        await self._backend.queue.ack(delivery)

    async def _announce_again(self, job: Job) -> None:
        """A job that its worker finished and then died before acking: it may have
        died before announcing the end, or before queueing the webhook. Do both
        again; subscribers drop an event they have had (its revision is not
        newer), and a webhook keeps its id, by which receivers drop repeats."""
        logger.info("job %s ended before its worker died; announcing its end again", job.id)
        await self._backend.events.publish(JobEvent(FINISHED[job.status], job))
        await webhooks.enqueue(self._backend, job)

    async def _dead_letter(self, delivery: Delivery) -> None:
        """Give up on a job whose workers died every time they ran it."""
        reason = (
            f"Gave up after {delivery.attempt - 1} deliveries: every worker that took this "
            "job stopped before finishing it."
        )
        event = await self._backend.advance(  # announced as it is changed
            delivery.job_id,
            _UNFINISHED,
            JobEventType.FAILED,
            status=JobStatus.FAILED,
            error=JobError(ErrorCode.INTERNAL.value, reason),
            finished_at=datetime.now(UTC),
        )
        if event is None:  # it ended after all, or is gone: nothing to give up
            await self._let_go(delivery, await self._backend.jobs.get(delivery.job_id))
            return
        logger.error("job %s: %s", delivery.job_id, reason)
        self._telemetry.event(event)
        await webhooks.enqueue(self._backend, event.job)  # before the job leaves the queue
        await self._backend.queue.dead_letter(delivery, reason)
