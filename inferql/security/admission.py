"""Admission: whether an operation may run, decided before it runs.

Given the caller and what the operation asks for (its root fields and how many
texts it sends), refuse it with FORBIDDEN (a root field needs a scope the caller
lacks), BAD_USER_INPUT (it sends more texts than one request may, over all its
fields), OVERLOADED (the queue is too deep for new work) or RATE_LIMITED (the
caller's texts per window are spent). Nothing runs, and nothing is charged, for
a refused operation.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferql.backends.base import Backend
from inferql.errors import BadUserInputError, OverloadedError
from inferql.security.caller import Caller, Scope
from inferql.security.ratelimit import RateLimiter, RateLimitState
from inferql.settings import Settings

# The scope each root field needs (None: any caller). A root field missing here
# needs `admin`, so a new field is closed until someone decides who may use it.
ROOT_FIELD_SCOPES: dict[str, Scope | None] = {
    "classify": Scope.CLASSIFY,
    "classifyBatch": Scope.CLASSIFY,
    "submitClassification": Scope.CLASSIFY,
    "job": Scope.JOBS,
    "jobs": Scope.JOBS,
    "cancelJob": Scope.JOBS,
    "jobEvents": Scope.JOBS,
    # Service-wide figures (rates, counts, latency; no job's content): anyone who
    # may follow jobs, so the dashboard works for every caller.
    "stats": Scope.JOBS,
    "models": None,
}

# Retry-After of OVERLOADED: a worker drains a deep queue in seconds, not minutes.
OVERLOADED_RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class OperationPlan:
    """What an operation asks for: its root field names and the texts it sends."""

    root_fields: tuple[str, ...]
    texts: int


def required_scope(field: str) -> Scope | None:
    if field.startswith("__"):
        return None  # __typename, __schema, __type
    return ROOT_FIELD_SCOPES.get(field, Scope.ADMIN)


class Admission:
    def __init__(self, backend: Backend, settings: Settings) -> None:
        self._backend = backend
        self._max_texts = settings.max_texts_per_job
        self._max_queue_depth = settings.max_queue_depth
        self._limiter = (
            None
            if settings.rate_limit_texts is None
            else RateLimiter(
                backend.rate_limits,
                limit=settings.rate_limit_texts,
                window_s=settings.rate_limit_window_s,
            )
        )

    async def admit(self, caller: Caller, plan: OperationPlan) -> RateLimitState | None:
        """Raise the refusal, or return the caller's rate-limit state after
        charging the operation's texts (None when no limit applies)."""
        for field in plan.root_fields:
            scope = required_scope(field)
            if scope is not None:
                caller.require(scope)
        if plan.texts == 0:
            return None
        if plan.texts > self._max_texts:
            raise BadUserInputError(
                f"This operation sends {plan.texts} texts; at most {self._max_texts} are "
                "accepted in one request, over all its fields. Split it into several requests.",
                limit=self._max_texts,
            )
        if self._max_queue_depth is not None:
            depth = await self._backend.queue.depth()
            if depth > self._max_queue_depth:
                raise OverloadedError(
                    f"The service is busy ({depth} jobs waiting); retry in "
                    f"{OVERLOADED_RETRY_AFTER_S} s.",
                    retry_after=OVERLOADED_RETRY_AFTER_S,
                    retryAfter=OVERLOADED_RETRY_AFTER_S,
                )
        if self._limiter is None:
            return None
        return await self._limiter.charge(caller, plan.texts)


# Where each root field's texts are in its arguments: a path to a string (one
# text) or to a list of strings.
TEXT_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "classify": ("text",),
    "classifyBatch": ("texts",),
    "submitClassification": ("input", "texts"),
}


def text_cost(field: str, arguments: dict[str, object]) -> int:
    """How many texts a root field with these (coerced) arguments sends."""
    value: object = arguments
    for step in TEXT_ARGUMENTS.get(field, ()):
        value = value.get(step) if isinstance(value, dict) else getattr(value, step, None)
    if field not in TEXT_ARGUMENTS or value is None:
        return 0
    return len(value) if isinstance(value, list | tuple) else 1
