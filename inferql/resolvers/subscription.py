"""Subscription resolvers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from inferql.errors import UnavailableError
from inferql.resolvers.context import Info
from inferql.schema.job import JobEvent
from inferql.schema.stats import ServiceStats


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

    @strawberry.subscription(
        description="The service's figures now, then again every `intervalMs`: throughput, "
        "jobs by status, queue depth, batch sizes, latency percentiles and live workers."
    )
    async def stats(
        self,
        info: Info,
        interval_ms: Annotated[
            int, strawberry.argument(description="Between 100 and 60000 (default 1000).")
        ] = 1000,
    ) -> AsyncGenerator[ServiceStats, None]:
        collector = info.context.services.stats
        if collector is None:
            raise UnavailableError("This server does not collect stats.")
        async for stats in collector.stream(interval_ms):
            yield ServiceStats.from_domain(stats)
