"""The per-request context every resolver receives.

Nothing a context holds refers back to it: when its request ends, reference
counting frees it and all it holds (the request, the response, the loader), with
no cycle left for the garbage collector to find.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from inferql.errors import InferqlError
from inferql.inference import ModelRef, Prediction
from inferql.inference.catalog import Catalog
from inferql.jobs.service import JobService
from inferql.observability.stats import StatsCollector
from inferql.security.caller import Caller
from inferql.security.guard import Guard, RequestSecurity
from inferql.settings import Settings

# A text to classify with a resolved model, e.g. (sentiment@1, "I love this").
ClassifyKey = tuple[ModelRef, str]


@dataclass(frozen=True, slots=True)
class Services:
    """What the app builds once and every request shares."""

    settings: Settings
    catalog: Catalog
    jobs: JobService
    guard: Guard
    stats: StatsCollector | None = None


@dataclass(slots=True)
class Context:
    services: Services
    request: Request | WebSocket | None = None
    response: Response | None = None
    security: RequestSecurity = field(default_factory=RequestSecurity)
    # The websocket's connection_init payload (strawberry sets it).
    connection_params: dict[str, object] | None = None
    _classify_loader: DataLoader[ClassifyKey, Prediction] | None = field(default=None, init=False)

    @property
    def caller(self) -> Caller:
        return self.security.caller

    @property
    def classify_loader(self) -> DataLoader[ClassifyKey, Prediction]:
        """Collects the ``classify`` fields of this operation into jobs; made on first use.

        It remembers no answers: a websocket's operations share one context for
        as long as the socket lives, and each must be answered afresh (a failure
        retried, a text not answered from a memory that the inference cache's
        TTL does not govern, nothing kept until the socket closes)."""
        if self._classify_loader is None:
            self._classify_loader = DataLoader(
                load_fn=functools.partial(_classify_many, self.services.jobs, self.security),
                max_batch_size=self.services.settings.max_texts_per_job,
                cache=False,
            )
        return self._classify_loader


async def _classify_many(
    jobs: JobService, security: RequestSecurity, keys: list[ClassifyKey]
) -> list[Prediction | BaseException]:
    """Every ``classify`` of one operation arrives here together: one job per model."""
    by_model: defaultdict[ModelRef, list[int]] = defaultdict(list)
    for index, (ref, _) in enumerate(keys):
        by_model[ref].append(index)
    results: dict[int, Prediction | BaseException] = {}

    async def classify(ref: ModelRef, indexes: list[int]) -> None:
        try:
            predictions = await jobs.classify_resolved(
                ref, [keys[i][1] for i in indexes], caller=security.caller
            )
        except InferqlError as error:
            results.update((i, error) for i in indexes)
        else:
            results.update(zip(indexes, predictions, strict=True))

    calls = [classify(ref, indexes) for ref, indexes in by_model.items()]
    # One model (the usual case) is awaited directly: gathering it starts a task.
    await (calls[0] if len(calls) == 1 else asyncio.gather(*calls))
    return [results[i] for i in range(len(keys))]


Info = strawberry.Info[Context, None]
