"""Writing what a model call gave: each job's progress, its result once its last
text is in, or its failure; then the jobs a call finished, acked together.

Every change is stored and announced in one step (``Backend.advance``), and a
finished job's webhook is queued before its ack, so a worker that dies between
the two leaves nothing unsent (the next delivery announces the end again; see
:mod:`inferql.jobs.intake`). A job canceled while it ran has its result discarded.
A job run again after its worker died reports no progress until it is past
the progress it had: subscribers never see ``done`` go back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from inferql.backends.base import Backend
from inferql.errors import ErrorCode
from inferql.inference import ModelRef, Prediction
from inferql.jobs import webhooks
from inferql.jobs.batcher import Batcher, Slice, WorkItem
from inferql.jobs.model import Batch, Job, JobError, JobEvent, JobEventType, JobStatus
from inferql.observability.jobs import JobTelemetry

_RUNNING = frozenset({JobStatus.RUNNING})


class Outcomes:
    def __init__(self, backend: Backend, telemetry: JobTelemetry, batcher: Batcher) -> None:
        self._backend = backend
        self._telemetry = telemetry
        self._batcher = batcher

    async def deliver(
        self,
        ref: ModelRef,
        pieces: list[Slice],
        texts: list[str],
        predictions: list[Prediction],
        call: Batch,
    ) -> None:
        """Cache, store and announce one model call's results, job by job; then
        acknowledge the jobs it finished, together."""
        await self._backend.cache.put_many(ref, texts, predictions)
        offset = 0
        finished: list[WorkItem] = []
        for piece in pieces:
            count = piece.end - piece.start
            piece.item.predictions.extend(predictions[offset : offset + count])
            offset += count
            if await self._report(piece.item, call):
                finished.append(piece.item)
        await self.finish(finished)

    async def fail(self, items: Sequence[WorkItem], code: ErrorCode, message: str) -> None:
        """Fail every job of ``items`` with one error, and acknowledge them."""
        for item in items:
            failed = await self._advance(
                item.job.id,
                JobEventType.FAILED,
                known=item.job,
                status=JobStatus.FAILED,
                error=JobError(code.value, message),
                finished_at=datetime.now(UTC),
            )
            if failed is not None:
                await webhooks.enqueue(self._backend, failed.job)
        await self.finish(items)

    async def finish(self, items: Sequence[WorkItem]) -> None:
        """Forget jobs the worker is done with and acknowledge them (one round trip)."""
        if not items:
            return
        for item in items:
            self._batcher.remove(item.job.id)
        await self._backend.queue.ack(*(item.delivery for item in items))
        for item in items:
            self._telemetry.released(item.job)

    async def _report(self, item: WorkItem, batch: Batch) -> bool:
        """Store and announce a job's progress, or its result once complete;
        whether the worker is done with the job (finished, or canceled)."""
        if item.done < item.job.total:
            if item.done <= item.job.done:
                # Run again after its worker died: the job already says this much.
                return False
            event = await self._advance(
                item.job.id, JobEventType.PROGRESS, known=item.job, batch=batch, done=item.done
            )
        else:
            event = await self._advance(
                item.job.id,
                JobEventType.SUCCEEDED,
                known=item.job,
                batch=batch,
                status=JobStatus.SUCCEEDED,
                done=item.done,
                predictions=tuple(item.predictions),
                finished_at=datetime.now(UTC),
            )
        if event is None:  # canceled while it ran: its result is discarded
            return True
        item.job = event.job
        if event.type.terminal:
            await webhooks.enqueue(self._backend, event.job)  # before the ack
            return True
        return False

    async def _advance(
        self,
        job_id: str,
        event: JobEventType,
        *,
        known: Job,
        batch: Batch | None = None,
        **changes: Any,
    ) -> JobEvent | None:
        """Change a RUNNING job and announce it in one step (``Backend.advance``)."""
        announced = await self._backend.advance(
            job_id, _RUNNING, event, known=known, batch=batch, **changes
        )
        if announced is not None:
            self._telemetry.event(announced)
        return announced
