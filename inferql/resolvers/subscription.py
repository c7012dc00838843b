"""Subscription resolvers."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from inferql.resolvers.context import Info
from inferql.schema.job import JobEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="One job's current state at once, then every later event; completes "
        "after the terminal one. NOT_FOUND for an unknown job."
    )
    async def job(self, info: Info, id: strawberry.ID) -> AsyncGenerator[JobEvent, None]:
        async for event in info.context.services.jobs.watch(id, caller=info.context.caller):
            yield JobEvent.from_domain(event)

    @strawberry.subscription(
        description="Every event of your jobs (of every job, for an admin) from now on."
    )
    async def job_events(self, info: Info) -> AsyncGenerator[JobEvent, None]:
        async for event in info.context.services.jobs.events(caller=info.context.caller):
            yield JobEvent.from_domain(event)
