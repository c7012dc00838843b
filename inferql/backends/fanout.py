"""Delivery of job events to the subscribers of this process.

Both event buses end here: the memory bus publishes straight into a Fanout;
the Redis bus feeds one from its single pub/sub connection, so a process holds
one Redis subscription however many clients subscribe. Each subscriber has a
bounded buffer: one that falls behind is told so (``OverloadedError``) rather
than buffering without bound, and all of them learn it when the source fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from inferql.backends.base import EventStream
from inferql.errors import InferqlError, OverloadedError
from inferql.jobs.model import JobEvent

# What a subscriber's buffer holds: an event, an error to raise, or the end.
_Item = JobEvent | InferqlError | None


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

    def deliver(self, event: JobEvent) -> None:
        """Hand ``event`` to the subscribers of its job and of every job."""
        for key in (event.job.id, None):
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

    def end_all(self, error: InferqlError | None = None) -> None:
        """End every subscription: cleanly (None), or with ``error``."""
        for subscribers in self._by_job.values():
            for subscriber in subscribers:
                subscriber.end(error)
