"""Mutation resolvers."""

from __future__ import annotations

import strawberry

from inferql.resolvers.context import Info
from inferql.schema.job import Job, SubmitClassificationInput


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Queue a classification job and return it at once (QUEUED, or "
        "SUCCEEDED when every text was already cached). Follow it with the `job` "
        "subscription or query."
    )
    async def submit_classification(self, info: Info, input: SubmitClassificationInput) -> Job:
        context = info.context
        job, replayed = await context.services.jobs.submit_once(
            input.texts,
            input.model,
            caller=context.caller,
            webhook_url=input.webhook_url,
            idempotency_key=input.idempotency_key,
            request_claim=context.security.claim,
        )
        if replayed:
            context.security.mark_replayed()
        return Job.from_domain(job)

    @strawberry.mutation(
        description="Cancel a queued or running job. NOT_FOUND for an unknown job, "
        "CONFLICT for a finished one."
    )
    async def cancel_job(self, info: Info, id: strawberry.ID) -> Job:
        return Job.from_domain(
            await info.context.services.jobs.cancel(id, caller=info.context.caller)
        )
