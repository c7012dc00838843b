"""The job record and its events: plain values that every backend stores and
every layer above reads."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from operator import attrgetter

from inferql.inference import ModelRef, Prediction
from inferql.security.caller import LOCAL_OWNER


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class JobEventType(StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (JobEventType.SUCCEEDED, JobEventType.FAILED, JobEventType.CANCELED)


@dataclass(frozen=True, slots=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Job:
    """A classification job. ``revision`` grows by one with every change, so a
    reader can tell which of two copies is newer (subscriptions drop events that
    are not newer than the snapshot they started from)."""

    id: str
    model: ModelRef
    texts: tuple[str, ...]
    status: JobStatus = JobStatus.QUEUED
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    done: int = 0
    predictions: tuple[Prediction, ...] | None = None
    error: JobError | None = None
    revision: int = 0
    # Who submitted it: only they (and admins) see it. The local caller when
    # authentication is off.
    owner: str = LOCAL_OWNER
    # Where the terminal event is POSTed, if anywhere.
    webhook_url: str | None = None
    # Where the job came from, so the worker's logs and spans join the request's:
    # the request id (X-Request-ID) and the W3C `traceparent` of the submitting span.
    request_id: str | None = None
    trace_parent: str | None = None

    @property
    def total(self) -> int:
        return len(self.texts)

    def copy_with(self, **changes: object) -> Job:
        """A copy with ``changes`` applied: what ``dataclasses.replace`` does, at
        half its cost (it reads the fields' definitions on every call, and a
        classify copies its job three times)."""
        values = dict(zip(_JOB_FIELDS, _job_values(self), strict=True))
        values.update(changes)
        return Job(**values)

    def evolve(self, **changes: object) -> Job:
        """A copy with ``changes`` applied and the revision bumped."""
        return self.copy_with(revision=self.revision + 1, **changes)


_JOB_FIELDS = tuple(f.name for f in fields(Job))
_job_values = attrgetter(*_JOB_FIELDS)


@dataclass(frozen=True, slots=True)
class Batch:
    """One model call: ``id`` is unique per call, ``texts`` how many texts it held."""

    id: str
    texts: int


@dataclass(frozen=True, slots=True)
class JobEvent:
    """``batch`` is the model call that produced a PROGRESS or SUCCEEDED event
    (None for the others), so a subscriber can follow batch sizes."""

    type: JobEventType
    job: Job
    batch: Batch | None = None


def event_for(job: Job) -> JobEventType:
    """The event type that announces ``job`` in its current state."""
    match job.status:
        case JobStatus.QUEUED:
            return JobEventType.QUEUED
        case JobStatus.RUNNING:
            return JobEventType.STARTED if job.done == 0 else JobEventType.PROGRESS
        case JobStatus.SUCCEEDED:
            return JobEventType.SUCCEEDED
        case JobStatus.FAILED:
            return JobEventType.FAILED
        case JobStatus.CANCELED:
            return JobEventType.CANCELED


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def new_job_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, in Crockford base32.

    Ids sort as they were made (monotonic within a process, even within one
    millisecond), so the id doubles as the ``jobs`` cursor: newest first is
    descending id order.
    """
    global _last_ms, _last_rand
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = ms, rand
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
