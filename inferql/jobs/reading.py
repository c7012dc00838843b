"""Reading jobs: one job, pages of jobs behind opaque cursors, and a job's events
as they happen. The read side of :class:`inferql.jobs.service.JobService`.

A caller sees only its own jobs (an admin sees all); someone else's job looks
exactly like a missing one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass

from inferql.backends.base import Backend
from inferql.errors import BadUserInputError, NotFoundError
from inferql.jobs.model import Job, JobEvent, JobStatus, event_for
from inferql.security.caller import LOCAL_CALLER, Caller
from inferql.settings import Settings


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    has_next_page: bool

    def cursor(self, job: Job) -> str:
        return encode_cursor(job.id)


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(f"job:{job_id}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    """The job id inside a cursor; BadUserInputError if it is not one of ours."""
    try:
        kind, _, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        kind, job_id = "", ""
    if kind != "job" or not job_id:
        raise BadUserInputError("`after` is not a cursor this API returned.", argument="after")
    return job_id


class JobReader:
    def __init__(self, backend: Backend, settings: Settings) -> None:
        self._backend = backend
        self._settings = settings

    async def get(self, job_id: str, *, caller: Caller = LOCAL_CALLER) -> Job | None:
        """The job, or None if it does not exist or is not the caller's."""
        job = await self._backend.jobs.get(job_id)
        return job if job is not None and caller.sees(job.owner) else None

    async def list(
        self,
        *,
        first: int | None,
        after: str | None,
        status: JobStatus | None,
        caller: Caller = LOCAL_CALLER,
    ) -> JobPage:
        limit = self._settings.max_page_size if first is None else first
        if not 0 <= limit <= self._settings.max_page_size:
            raise BadUserInputError(
                f"`first` must be between 0 and {self._settings.max_page_size}.",
                argument="first",
            )
        before = decode_cursor(after) if after is not None else None
        owner = None if caller.admin else caller.owner
        jobs = await self._backend.jobs.list(
            status=status, before=before, limit=limit + 1, owner=owner
        )
        return JobPage(jobs=jobs[:limit], has_next_page=len(jobs) > limit)

    # -- watching -----------------------------------------------------------

    async def wait(self, job_id: str, timeout: float) -> Job:
        """The job once it is finished; TimeoutError after ``timeout`` seconds,
        NotFoundError for an unknown job, UnavailableError if the events stop
        first (the backend shut down)."""
        async with asyncio.timeout(timeout), self._backend.events.ending(job_id) as ended:
            job = await self._backend.jobs.get(job_id)  # after: no end falls between
            if job is None:
                raise NotFoundError(f"No job with id {job_id!r}.", id=job_id)
            if job.status.terminal:
                return job
            return (await ended).job

    async def watch(self, job_id: str, *, caller: Caller = LOCAL_CALLER) -> AsyncIterator[JobEvent]:
        """The job's current state as an event, then every later event; ends after
        the terminal one. NotFoundError if the job does not exist or is not the
        caller's.

        Subscribes before reading the snapshot and drops events not newer than
        it, so no change falls between the two.
        """
        async with self._backend.events.subscribe(job_id) as stream:
            job = await self.get(job_id, caller=caller)
            if job is None:
                raise NotFoundError(f"No job with id {job_id!r}.", id=job_id)
            first = JobEvent(event_for(job), job)
            yield first
            if first.type.terminal:
                return
            seen = job.revision
            async for event in stream:
                if event.job.revision <= seen:
                    continue
                seen = event.job.revision
                yield event
                if event.type.terminal:
                    return

    async def events(self, *, caller: Caller = LOCAL_CALLER) -> AsyncIterator[JobEvent]:
        """Every event of the caller's jobs (every job's, for an admin) from now on,
        until the subscriber leaves."""
        async with self._backend.events.subscribe() as stream:
            async for event in stream:
                if caller.sees(event.job.owner):
                    yield event
