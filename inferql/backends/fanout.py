"""Delivery of job events to the subscribers of this process.

Both event buses end here: the memory bus publishes straight into a Fanout;
the Redis bus feeds one from its single pub/sub connection, so a process holds
one Redis subscription however many clients subscribe. Each subscriber has a
bounded buffer: one that falls behind is told so (``OverloadedError``) rather
than buffering without bound, and all of them learn it when the source fails.

Events are announced at least once: a worker that takes over a job whose
worker finished it and then died may announce its end again. Every event
carries the job's revision, and a Fanout delivers none that is not newer than
the last it delivered for that job (of the ``REMEMBERED_JOBS`` most recent),
so each subscriber hears of each change once, and never of a job going back.

Who waits only for a job's end (a synchronous ``classify``) holds an
:class:`Ending` rather than a subscription: a future that the job's terminal
event resolves, with no buffer to fill with the events before it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from inferql.backends.base import EventStream
from inferql.errors import InferqlError, OverloadedError, UnavailableError
from inferql.jobs.model import JobEvent

# What a subscriber's buffer holds: an event, an error to raise, or the end.
_Item = JobEvent | InferqlError | None
# Jobs whose last delivered revision a Fanout remembers.
REMEMBERED_JOBS = 10_000


class _Subscriber:
    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=buffer)
        self.ended = False

    def offer(self, item: _Item) -> None:
        if self.ended:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.end(
                OverloadedError(
                    "This subscription fell too far behind its events; subscribe again."
                )
            )

    def end(self, item: InferqlError | None) -> None:
        """Deliver ``item`` after what is buffered, then nothing more."""
        if self.ended:
            return
        self.ended = True
        if self.queue.full():
            self.queue.get_nowait()  # the end matters more than one more event
        self.queue.put_nowait(item)

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, InferqlError):
                raise item
            yield item


class Fanout:
    def __init__(self, *, buffer: int) -> None:
        self._buffer = buffer
        self._by_job: dict[str | None, set[_Subscriber]] = {}
        self._endings: dict[str, set[asyncio.Future[JobEvent]]] = {}
        self._revisions: OrderedDict[str, int] = OrderedDict()

    def deliver(self, event: JobEvent) -> None:
        """Hand ``event`` to the subscribers of its job and of every job, unless it
        is not newer than the last event delivered for its job."""
        job = event.job
        last = self._revisions.get(job.id)
        if last is not None and job.revision <= last:
            return
        self._revisions[job.id] = job.revision
        self._revisions.move_to_end(job.id)
        if len(self._revisions) > REMEMBERED_JOBS:
            self._revisions.popitem(last=False)
        if event.type.terminal and job.id in self._endings:
            for future in self._endings[job.id]:
                if not future.done():
                    future.set_result(event)
        for key in (job.id, None):
            for subscriber in self._by_job.get(key, ()):
                subscriber.offer(event)

    @asynccontextmanager
    async def subscribe(self, job_id: str | None = None) -> AsyncIterator[EventStream]:
        subscriber = _Subscriber(self._buffer)
        self._by_job.setdefault(job_id, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._by_job[job_id]
            subscribers.discard(subscriber)
            if not subscribers:
                del self._by_job[job_id]

    def ending(self, job_id: str) -> Ending:
        """The terminal event of ``job_id`` published after this is entered."""
        return Ending(self._endings, job_id)

    def end_all(self, error: InferqlError | None = None) -> None:
        """End every subscription: cleanly (None), or with ``error``; whoever waits
        for a job's end gets ``error``, or UnavailableError."""
        for job_id, futures in self._endings.items():
            for future in futures:
                if not future.done():
                    future.set_exception(
                        error
                        or UnavailableError(f"Job {job_id!r}'s events stopped before it finished.")
                    )
        for subscribers in self._by_job.values():
            for subscriber in subscribers:
                subscriber.end(error)


class Ending:
    """``async with fanout.ending(job_id) as ended``: ``await ended`` is the job's
    terminal event (UnavailableError if the events stop first). A context
    manager of its own rather than ``asynccontextmanager``: a synchronous
    ``classify`` enters one per request."""

    __slots__ = ("_endings", "_future", "_job_id")

    def __init__(self, endings: dict[str, set[asyncio.Future[JobEvent]]], job_id: str) -> None:
        self._endings = endings
        self._job_id = job_id
        self._future: asyncio.Future[JobEvent] | None = None

    async def __aenter__(self) -> asyncio.Future[JobEvent]:
        self._future = asyncio.get_running_loop().create_future()
        self._endings.setdefault(self._job_id, set()).add(self._future)
        return self._future

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._future is not None
        futures = self._endings[self._job_id]
        futures.discard(self._future)
        if not futures:
            del self._endings[self._job_id]
        if self._future.done() and not self._future.cancelled():
            self._future.exception()  # retrieved: an unawaited end logs nothing
        else:
            self._future.cancel()
