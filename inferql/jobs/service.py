"""JobService: the one way into the job path for every resolver.

It validates input, answers from the inference cache where it can, creates,
enqueues and cancels jobs; reading and watching them is
:class:`~inferql.jobs.reading.JobReader`'s, which it extends. Errors are domain errors
from ``inferql.errors``; mapping them to GraphQL is the resolvers' business.

Every method takes the ``caller``: a job belongs to whoever submitted it, and a
caller sees only its own jobs (an admin sees all). Someone else's job looks
exactly like a missing one. The default caller is the local one (auth off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from inferql.backends.base import Backend
from inferql.errors import (
    BadUserInputError,
    ConflictError,
    DeadlineExceededError,
    ErrorCode,
    InferqlError,
    NotFoundError,
)
from inferql.inference import ModelRef, Prediction
from inferql.inference.catalog import Catalog
from inferql.jobs import webhooks
from inferql.jobs.idempotency import Claim, Idempotency, fingerprint
from inferql.jobs.model import Job, JobEvent, JobEventType, JobStatus, new_job_id
from inferql.jobs.reading import JobReader
from inferql.observability.jobs import JobTelemetry
from inferql.security.caller import LOCAL_CALLER, Caller
from inferql.settings import Settings

_CANCELABLE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class JobService(JobReader):
    """Submitting, classifying and canceling; reading and watching come from
    :class:`~inferql.jobs.reading.JobReader`."""

    def __init__(self, backend: Backend, catalog: Catalog, settings: Settings) -> None:
        super().__init__(backend, settings)
        self._catalog = catalog
        self._telemetry = JobTelemetry(settings)
        self._idempotency = Idempotency(
            backend.idempotency, backend.jobs.get, retention_s=settings.idempotency_retention_s
        )

    @property
    def idempotency(self) -> Idempotency:
        return self._idempotency

    # -- submitting ---------------------------------------------------------

    def resolve_model(self, model: str | None) -> ModelRef:
        """The exact name@version a request means; ModelNotFoundError if none."""
        return self._catalog.resolve(model or self._settings.default_model).ref

    def validate_texts(self, texts: Sequence[str]) -> None:
        """Raise BadUserInputError for an empty list, too many texts, or a text that
        is empty or longer than the limit."""
        limits = self._settings
        if not texts:
            raise BadUserInputError("`texts` must hold at least one text.", argument="texts")
        if len(texts) > limits.max_texts_per_job:
            raise BadUserInputError(
                f"`texts` holds {len(texts)} texts; at most {limits.max_texts_per_job} "
                "are accepted in one request.",
                argument="texts",
                limit=limits.max_texts_per_job,
            )
        for index, text in enumerate(texts):
            if not text.strip():
                raise BadUserInputError(f"Text {index} is empty.", argument="texts", index=index)
            if len(text) > limits.max_text_chars:
                raise BadUserInputError(
                    f"Text {index} has {len(text)} characters; at most "
                    f"{limits.max_text_chars} are accepted.",
                    argument="texts",
                    index=index,
                    limit=limits.max_text_chars,
                )

    async def submit(
        self,
        texts: Sequence[str],
        model: str | None = None,
        *,
        caller: Caller = LOCAL_CALLER,
        webhook_url: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Create a job and queue it. If every text is in the inference cache the
        job is created already SUCCEEDED and never reaches a worker. A job with a
        ``webhook_url`` has it POSTed there when it ends (BadUserInputError for a
        destination that is not allowed, or an owner without a webhook secret).
        The job gets ``job_id`` if given (an idempotent submission's, chosen
        before it): a job of that id that exists already is left as it is."""
        self.validate_texts(texts)
        ref = self.resolve_model(model)
        if webhook_url is not None:
            await self._check_webhook(webhook_url, caller)
        template = Job(
            id="", model=ref, texts=tuple(texts), owner=caller.owner, webhook_url=webhook_url
        )
        cached = await self._backend.cache.get_many(ref, texts)
        self._telemetry.cache_lookup(cached)
        if all(p is not None for p in cached):
            return await self._create_finished(template, _merge(cached, ()), job_id)
        return await self._enqueue(self._identified(template, job_id))

    async def submit_once(
        self,
        texts: Sequence[str],
        model: str | None = None,
        *,
        caller: Caller = LOCAL_CALLER,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        request_claim: Claim | None = None,
    ) -> tuple[Job, bool]:
        """``submit`` under an idempotency key: the input field's ``idempotency_key``
        or else the HTTP request's claimed ``Idempotency-Key`` header. Returns the
        job and whether it is a replay of an earlier request's job."""

        async def create(job_id: str | None = None) -> Job:
            return await self.submit(
                texts, model, caller=caller, webhook_url=webhook_url, job_id=job_id
            )

        if idempotency_key is not None:
            print_ = fingerprint({"texts": list(texts), "model": model, "webhookUrl": webhook_url})
            return await self._idempotency.run(caller.owner, idempotency_key, print_, create)
        if request_claim is None:
            return await create(), False
        if request_claim.used:
            raise BadUserInputError(
                "An Idempotency-Key header covers one submission per request; give each "
                "submission its own `idempotencyKey` instead.",
                argument="idempotencyKey",
            )
        request_claim.used = True
        if request_claim.replay:
            return await self._idempotency.replayed(request_claim), True
        # Should this fail, the guard lets the claim's lock lapse: the next request
        # with the header replays the job if it was stored after all.
        job = await create(request_claim.job_id)
        request_claim.created = True
        return job, False

    async def _check_webhook(self, url: str, caller: Caller) -> None:
        await webhooks.resolve(webhooks.check_url(url, self._settings), self._settings)
        if await self._backend.api_keys.webhook_secret(caller.owner) is None:
            raise BadUserInputError(
                f"No webhook secret exists for {caller.owner!r}, so its webhooks cannot be "
                f"signed; create one with `inferql keys webhook-secret {caller.owner}`.",
                argument="webhookUrl",
            )

    async def classify(
        self, texts: Sequence[str], model: str | None = None, *, caller: Caller = LOCAL_CALLER
    ) -> list[Prediction]:
        """Predictions for ``texts``, waiting at most the sync deadline.

        Cache hits are answered at once; the misses become one job. Raises
        DeadlineExceededError (and cancels the job) when the deadline passes, or
        the job's own error when it fails.
        """
        self.validate_texts(texts)
        return await self.classify_resolved(self.resolve_model(model), texts, caller=caller)

    async def classify_resolved(
        self, ref: ModelRef, texts: Sequence[str], *, caller: Caller = LOCAL_CALLER
    ) -> list[Prediction]:
        """``classify`` for texts the caller has validated and a model it has resolved
        (the per-request DataLoader does both per field, for precise errors)."""
        found = await self._backend.cache.get_many(ref, texts)
        self._telemetry.cache_lookup(found)
        misses = [text for text, p in zip(texts, found, strict=True) if p is None]
        if not misses:
            return _merge(found, ())
        job = self._identified(Job(id="", model=ref, texts=tuple(misses), owner=caller.owner))
        timeout = self._settings.sync_deadline_ms / 1000
        # Waiting from before the job exists: its end cannot come first.
        async with self._backend.events.ending(job.id) as ended:
            await self._enqueue(job)
            try:
                async with asyncio.timeout(timeout):
                    job = (await ended).job
            except TimeoutError:
                await self._cancel_quietly(job.id)
                raise DeadlineExceededError(
                    f"No result within {self._settings.sync_deadline_ms:g} ms; submit a job "
                    "with `submitClassification` for long work.",
                    deadlineMs=self._settings.sync_deadline_ms,
                ) from None
        if job.status is not JobStatus.SUCCEEDED or job.predictions is None:
            raise _job_failure(job)
        return _merge(found, job.predictions)

    def _identified(self, template: Job, job_id: str | None = None) -> Job:
        """``template`` as a new job: its id (new unless given), and the request it
        came from."""
        return template.copy_with(
            id=job_id or new_job_id(),
            request_id=self._telemetry.request_id(),
            trace_parent=self._telemetry.trace_parent(),
        )

    async def _enqueue(self, job: Job) -> Job:
        """``job`` stored, announced QUEUED and queued; the stored one if a job of
        its id existed already (an idempotent submission's, made by a request
        that gave up on it)."""
        if not await self._backend.submit(job):
            return await self._backend.jobs.get(job.id) or job
        self._telemetry.submitted(job)
        self._telemetry.event(JobEvent(JobEventType.QUEUED, job))
        return job

    async def _create_finished(
        self, template: Job, predictions: list[Prediction], job_id: str | None = None
    ) -> Job:
        now = datetime.now(UTC)
        job = template.copy_with(
            id=job_id or new_job_id(),
            status=JobStatus.SUCCEEDED,
            created_at=now,
            started_at=now,
            finished_at=now,
            done=template.total,
            predictions=tuple(predictions),
            request_id=self._telemetry.request_id(),
        )
        if not await self._backend.record_finished(job, webhooks.delivery_for(job)):
            return await self._backend.jobs.get(job.id) or job
        self._telemetry.submitted(job)
        self._telemetry.event(JobEvent(JobEventType.SUCCEEDED, job))
        return job

    # -- changing -----------------------------------------------------------

    async def cancel(self, job_id: str, *, caller: Caller = LOCAL_CALLER) -> Job:
        """Cancel a queued or running job: no worker runs a canceled queued job, and
        a running one's result is discarded. NotFoundError for an unknown job (or
        someone else's), ConflictError for a finished one."""
        if await self.get(job_id, caller=caller) is None:
            raise NotFoundError(f"No job with id {job_id!r}.", id=job_id)
        canceled = await self._backend.advance(
            job_id,
            _CANCELABLE,
            JobEventType.CANCELED,
            status=JobStatus.CANCELED,
            finished_at=datetime.now(UTC),
        )
        if canceled is None:
            current = await self._backend.jobs.get(job_id)
            if current is None:
                raise NotFoundError(f"No job with id {job_id!r}.", id=job_id)
            if current.status is JobStatus.CANCELED:
                # Perhaps by a request that died before it queued the webhook,
                # whose retry this is: queue it (the outbox keeps one of each).
                await webhooks.enqueue(self._backend, current)
            raise ConflictError(
                f"Job {job_id!r} has already finished ({current.status.value}).",
                status=current.status.value,
            )
        self._telemetry.event(canceled)
        await webhooks.enqueue(self._backend, canceled.job)
        return canceled.job

    async def _cancel_quietly(self, job_id: str) -> None:
        try:
            await self.cancel(job_id)  # the local caller: it sees every job
        except InferqlError:
            pass  # finished meanwhile: nothing to stop


def _job_failure(job: Job) -> InferqlError:
    """The error a synchronous caller sees for a job that did not succeed."""
    if job.status is JobStatus.CANCELED:
        return ConflictError(f"Job {job.id!r} was canceled.", id=job.id)
    if job.error is None:
        return InferqlError("The job failed.", id=job.id)
    code = ErrorCode.__members__.get(job.error.code, ErrorCode.INTERNAL)
    return InferqlError(job.error.message, code=code, id=job.id)


def _merge(found: Sequence[Prediction | None], fresh: Sequence[Prediction]) -> list[Prediction]:
    """Fill the gaps of ``found`` (cache misses) with ``fresh``, in order."""
    computed = iter(fresh)
    merged = [p if p is not None else next(computed) for p in found]
    if next(computed, None) is not None:
        raise RuntimeError("more predictions than cache misses")
    return merged
