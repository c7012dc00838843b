"""The job record: copies keep every field, and ids sort as they were made."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from inferql.inference import ModelRef
from inferql.jobs.model import Job, JobError, JobStatus, new_job_id

REF = ModelRef("sentiment", "2")


def a_job() -> Job:
    return Job(
        id=new_job_id(),
        model=REF,
        texts=("one", "two"),
        started_at=datetime(2026, 1, 2, tzinfo=UTC),
        done=1,
        error=JobError("X", "y"),
        revision=4,
        owner="team-a",
        webhook_url="https://example.com/hook",
        request_id="r1",
        trace_parent="00-1-2-01",
    )


def test_copy_with_is_dataclasses_replace() -> None:
    job = a_job()
    changes = {"status": JobStatus.RUNNING, "done": 2, "request_id": None}
    assert job.copy_with(**changes) == dataclasses.replace(job, **changes)  # type: ignore[arg-type]
    assert job.copy_with() == job and job.copy_with() is not job


def test_evolve_applies_the_changes_and_bumps_the_revision() -> None:
    job = a_job()
    evolved = job.evolve(status=JobStatus.SUCCEEDED, done=2)
    assert evolved == dataclasses.replace(job, status=JobStatus.SUCCEEDED, done=2, revision=5)
    assert job.revision == 4  # the original is untouched


def test_job_ids_sort_as_they_were_made() -> None:
    ids = [new_job_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)
