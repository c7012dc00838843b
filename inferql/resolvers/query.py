"""Query resolvers."""

from __future__ import annotations

from typing import Annotated

import strawberry

from inferql.jobs import model as domain
from inferql.resolvers.context import Info
from inferql.schema.job import Job, JobConnection, JobStatus
from inferql.schema.prediction import Model, Prediction

ModelArgument = Annotated[
    str | None,
    strawberry.argument(
        description="`name` (its latest version) or `name@version`; the default model if null."
    ),
]


@strawberry.type
class Query:
    @strawberry.field(
        description="Classify one text and wait for the answer. Every `classify` field of "
        "one operation is batched into a single job; a slow answer fails with "
        "DEADLINE_EXCEEDED."
    )
    async def classify(self, info: Info, text: str, model: ModelArgument = None) -> Prediction:
        jobs = info.context.services.jobs
        jobs.validate_texts([text])
        ref = jobs.resolve_model(model)
        return Prediction.from_domain(await info.context.classify_loader.load((ref, text)))

    @strawberry.field(description="Classify several texts and wait; one prediction per text.")
    async def classify_batch(
        self, info: Info, texts: list[str], model: ModelArgument = None
    ) -> list[Prediction]:
        jobs = info.context.services.jobs
        jobs.validate_texts(texts)
        ref = jobs.resolve_model(model)
        predictions = await info.context.classify_loader.load_many([(ref, t) for t in texts])
        return [Prediction.from_domain(p) for p in predictions]

    @strawberry.field(description="A job by id; null if there is no such job (or it is not yours).")
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        job = await info.context.services.jobs.get(id, caller=info.context.caller)
        return None if job is None else Job.from_domain(job)

    @strawberry.field(
        description="Your jobs (every job, for an admin), newest first, a page at a time."
    )
    async def jobs(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and most: 100).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The `endCursor` of the previous page.")
        ] = None,
        status: Annotated[
            JobStatus | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only jobs in this status."),
        ] = None,
    ) -> JobConnection:
        page = await info.context.services.jobs.list(
            first=first,
            after=after,
            status=None if status is None else domain.JobStatus(status),
            caller=info.context.caller,
        )
        return JobConnection.from_page(page)

    @strawberry.field(description="Every classifier this service can run.")
    def models(self, info: Info) -> list[Model]:
        catalog = info.context.services.catalog
        return [Model.from_specs(catalog.versions(name)) for name in catalog.names()]
