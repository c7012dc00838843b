"""Jobs, their events and their pages, as GraphQL sees them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from inferql.jobs import model as domain
from inferql.jobs.reading import JobPage
from inferql.schema.prediction import ModelRef, Prediction

JobStatus = strawberry.enum(
    domain.JobStatus, name="JobStatus", description="Where a job is in its life."
)
JobEventType = strawberry.enum(
    domain.JobEventType, name="JobEventType", description="What happened to a job."
)


@strawberry.type(description="How many of a job's texts are classified.")
class Progress:
    done: int
    total: int

    @strawberry.field(description="`done / total`, between 0 and 1.")
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@strawberry.type(description="Why a job failed.")
class JobError:
    code: str = strawberry.field(description="A stable error code, as in `extensions.code`.")
    message: str


@strawberry.type(description="A classification job: some texts, one model, one result.")
class Job:
    id: strawberry.ID
    status: JobStatus  # type: ignore[valid-type]
    model: ModelRef
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    predictions: list[Prediction] | None = strawberry.field(
        description="One prediction per text, in the order given; null until SUCCEEDED."
    )
    error: JobError | None = strawberry.field(description="Set when the job FAILED.")
    owner: str = strawberry.field(description="Who submitted the job.")
    webhook_url: str | None = strawberry.field(
        description="Where the job's final state is POSTed when it ends."
    )

    @classmethod
    def from_domain(cls, job: domain.Job) -> Job:
        return cls(
            id=strawberry.ID(job.id),
            status=job.status,
            model=ModelRef.from_domain(job.model),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            progress=Progress(done=job.done, total=job.total),
            predictions=(
                None
                if job.predictions is None
                else [Prediction.from_domain(p) for p in job.predictions]
            ),
            error=None
            if job.error is None
            else JobError(code=job.error.code, message=job.error.message),
            owner=job.owner,
            webhook_url=job.webhook_url,
        )


@strawberry.type(description="Something that happened to a job, with the job as it is now.")
class JobEvent:
    type: JobEventType  # type: ignore[valid-type]
    job: Job

    @classmethod
    def from_domain(cls, event: domain.JobEvent) -> JobEvent:
        return cls(type=event.type, job=Job.from_domain(event.job))


@strawberry.type
class JobEdge:
    cursor: str
    node: Job


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of jobs, newest first (a Relay cursor connection).")
class JobConnection:
    edges: list[JobEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: JobPage) -> JobConnection:
        edges = [JobEdge(cursor=page.cursor(job), node=Job.from_domain(job)) for job in page.jobs]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.input(description="A classification job to run in the background.")
class SubmitClassificationInput:
    texts: list[str] = strawberry.field(description="The texts to classify, in order.")
    model: str | None = strawberry.field(
        default=None,
        description="`name` (its latest version) or `name@version`; the default model if null.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Retrying with the same key and input returns the first job instead of "
        "creating another (kept 24 h by default).",
    )
    webhook_url: str | None = strawberry.field(
        default=None,
        description="POST the job, signed (Standard Webhooks), here when it ends.",
    )
