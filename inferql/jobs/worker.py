"""The worker: drains the queue into batches and makes ONE model call per batch
(per model, when a batch mixes models), off the event loop.

A batch holds at most ``max_batch_texts`` texts and ``max_batch_tokens`` padded
tokens (see :mod:`inferql.jobs.batcher`). When to cut it (``batch_wait``):

- ``adaptive`` (the default): a worker that was idle sends what it took to the
  model at once; a lone request never waits. While the model runs, new jobs
  queue up; after the call the worker takes all of them (a busy worker batches
  by itself) and waits at most ``batch_wait_fraction`` of the measured call
  time (an EWMA), capped by ``max_wait_ms``, for more to join. Work that comes
  while another call is in flight waits the same way.
- ``fixed``: wait ``max_wait_ms`` after a batch's first text.

A worker runs up to ``model_calls`` model calls at once, each on its own batch
and with ``model_threads`` threads (by default one call per core with one
thread each: on CPUs, calls side by side get more from the cores than one call
split across them, and a call slowed by the event loop stalls no other).
The model pads as little as it can itself (one call runs texts of like token
lengths in passes of their own: ``MiniLMTokens.in_passes``). A batch's results
are written and announced as soon as its call returns, while other batches
are with the model; only a job split across batches waits for its earlier
batches, so that its texts and events never overtake each other. Jobs that
share no batch do not wait on one another: a small batch that returns first is
delivered first, and its clients send their next requests while the longer
call still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from inferql.backends.base import Backend
from inferql.errors import ErrorCode, InferqlError, UnavailableError
from inferql.inference import ModelProvider, ModelRef, Prediction
from inferql.jobs.batcher import Batcher, BatchWait, Slice, WorkItem
from inferql.jobs.intake import Intake
from inferql.jobs.model import Job
from inferql.jobs.outcomes import Outcomes
from inferql.observability.jobs import JobTelemetry
from inferql.settings import Settings

logger = logging.getLogger(__name__)

# How long an idle worker blocks on the queue before it looks at its stop flag.
_IDLE_POLL_S = 0.5
# Waits between attempts while the backend is unreachable.
_MIN_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0


class Worker:
    def __init__(self, backend: Backend, models: ModelProvider, settings: Settings) -> None:
        self._backend = backend
        self._models = models
        self._wait = BatchWait(
            settings.batch_wait, settings.max_wait_ms / 1000, settings.batch_wait_fraction
        )
        self._batcher = Batcher(settings.max_batch_texts, settings.max_batch_tokens)
        calls, _ = settings.model_parallelism
        self._executor = ThreadPoolExecutor(max_workers=calls, thread_name_prefix="inferql-model")
        # Model calls that may run at once, and how many do.
        self._free_calls = asyncio.Semaphore(calls)
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self._telemetry = JobTelemetry(settings)
        self._intake = Intake(backend, self._telemetry, settings.max_deliveries)
        self._outcomes = Outcomes(backend, self._telemetry, self._batcher)
        # Every batch in flight: its model call, then its results written. A job
        # split across batches names the last of them, which its next one awaits.
        self._delivering: set[asyncio.Task[None]] = set()
        self._last_batch_of: dict[str, asyncio.Task[None]] = {}

    def stop(self) -> None:
        """Ask the worker to finish the jobs it has taken and return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until ``stop`` is called and the taken jobs are done.
        While the backend is unreachable, hand back what was taken and retry."""
        backoff = _MIN_BACKOFF_S
        try:
            while True:
                try:
                    if not await self._step():
                        return
                    backoff = _MIN_BACKOFF_S
                except UnavailableError:
                    logger.warning("backend unavailable; retrying in %.1f s", backoff)
                    with contextlib.suppress(UnavailableError):
                        await self._settle()
                    await self._hand_back()
                    if self._stopping.is_set():
                        return
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
        finally:
            for task in self._delivering:
                task.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _step(self) -> bool:
        """Wait for a free model call, take work and start one batch on it; False
        once stopped with nothing left."""
        await self._free_calls.acquire()
        launched = False
        try:
            if any(_failed(task) for task in self._delivering):
                await self._settle()  # raises what went wrong in it
            if self._batcher.pending_texts == 0 and self._stopping.is_set():
                await self._settle()
                return False
            batch = await self._collect()
            if batch:
                self._launch(batch)
                launched = True
            return True
        finally:
            if not launched:
                self._free_calls.release()

    async def _collect(self) -> list[Slice]:
        """The next batch: at once for work that came to an idle worker, after the
        adaptive wait for work that queued while the model was busy (or that joins
        other calls in flight); empty if nothing came within the idle poll."""
        loop = asyncio.get_running_loop()
        if self._batcher.pending_texts == 0:
            await self._fill(0)
        busy = self._batcher.pending_texts > 0  # it queued while the model ran
        if not busy:
            await self._fill(_IDLE_POLL_S)
            if self._batcher.pending_texts == 0:
                return []
        busy = busy or self._in_flight > 0
        deadline = loop.time() + self._wait.wait_s(busy)
        while self._batcher.pending_texts < self._batcher.max_texts:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopping.is_set():
                break
            await self._fill(remaining)
        return self._batcher.next_batch()

    def _launch(self, batch: Sequence[Slice]) -> None:
        """Run ``batch`` on the model call this worker holds for it, then write its
        results once the earlier batches of its jobs are written: batches may
        finish out of order, a job's deliveries may not (its texts and events
        keep their order). The call is free again as soon as the model returns."""
        job_ids = {piece.item.job.id for piece in batch}
        earlier = {self._last_batch_of[i] for i in job_ids if i in self._last_batch_of}
        self._in_flight += 1

        async def run() -> None:
            try:
                deliveries = await self._run_batch(batch)
            finally:
                self._in_flight -= 1
                self._free_calls.release()
            for task in earlier:
                await task
            for deliver in deliveries:
                await deliver()

        task = asyncio.create_task(run(), name="inferql-batch")
        self._delivering.add(task)
        for job_id in job_ids:
            self._last_batch_of[job_id] = task

        def written(task: asyncio.Task[None]) -> None:
            for job_id in job_ids:
                if self._last_batch_of.get(job_id) is task:
                    del self._last_batch_of[job_id]
            if not _failed(task):
                self._delivering.discard(task)  # a failed one stays for _settle to raise

        task.add_done_callback(written)

    async def _hand_back(self) -> None:
        """Return every taken job to the queue; a hand-back is no delivery that
        failed, so it does not count towards ``max_deliveries``. One that cannot
        reach the backend now is sent with the queue's next take (or, should
        this process die first, taken over once its claim goes idle)."""
        for item in self._batcher.clear():
            self._telemetry.released(item.job)
            with contextlib.suppress(UnavailableError):
                await self._backend.queue.release(item.delivery)

    async def _fill(self, timeout: float) -> None:
        """Take jobs from the queue into the batcher, waiting up to ``timeout``."""
        room = max(1, self._batcher.max_texts - self._batcher.pending_texts)
        taken = await self._backend.queue.take(room, timeout)
        try:
            started = await self._intake.start(taken)
        except Exception:
            # Neither run nor in the batcher (which ``_hand_back`` empties): back
            # to the queue with them, or their claims would be renewed for ever.
            for delivery in taken:
                with contextlib.suppress(UnavailableError):
                    await self._backend.queue.release(delivery)
            raise
        for delivery, job in started:
            self._batcher.add(job, delivery)

    async def _run_batch(self, batch: Sequence[Slice]) -> list[Callable[[], Awaitable[None]]]:
        """One model call per model in ``batch``; what each outcome needs written."""
        by_model: defaultdict[ModelRef, list[Slice]] = defaultdict(list)
        for piece in batch:
            by_model[piece.item.job.model].append(piece)
        deliveries: list[Callable[[], Awaitable[None]]] = []
        for ref, pieces in by_model.items():
            texts = [text for piece in pieces for text in piece.texts]
            try:
                with self._telemetry.model_call(ref, _jobs_of(pieces), len(texts)) as call:
                    predictions = await self._predict(ref, texts)
            except InferqlError as error:
                code, message = error.code, error.message
            except Exception:
                logger.exception("model %s failed on a batch of %d texts", ref, len(texts))
                code, message = ErrorCode.INTERNAL, "The model failed on this job's batch."
            else:
                deliveries.append(
                    functools.partial(self._outcomes.deliver, ref, pieces, texts, predictions, call)
                )
                continue
            fail = functools.partial(self._outcomes.fail, _items_of(pieces), code, message)
            deliveries.append(fail)
        return deliveries

    async def _settle(self) -> None:
        """Wait for the deliveries in flight; raise the error of one that failed."""
        tasks, self._delivering = self._delivering, set()
        self._last_batch_of.clear()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome

    async def _predict(self, ref: ModelRef, texts: list[str]) -> list[Prediction]:
        """One model call for ``texts``, answered in their order."""

        def call() -> list[Prediction]:
            return self._models.load(ref).predict(texts)

        loop = asyncio.get_running_loop()
        began = loop.time()
        results = await loop.run_in_executor(self._executor, call)
        self._wait.observe(loop.time() - began)
        if len(results) != len(texts):
            raise RuntimeError(f"model {ref} returned {len(results)} predictions for {len(texts)}")
        return results


def _failed(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def _jobs_of(pieces: Iterable[Slice]) -> list[Job]:
    return [item.job for item in _items_of(pieces)]


def _items_of(pieces: Iterable[Slice]) -> list[WorkItem]:
    """The distinct jobs of some slices, in order."""
    return list({piece.item.job.id: piece.item for piece in pieces}.values())
