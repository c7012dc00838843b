"""The ``Idempotency-Key`` header's claim as the guard settles it around one HTTP
request: a request whose submission failed, or that was cancelled, after its
job was stored never leads to a second job."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry

from inferql.errors import UnavailableError
from inferql.jobs.model import Job
from inferql.security.guard import HttpOutcome
from tests.conftest import Harness, HarnessFactory
from tests.resolvers.conftest import ContextFactory

SUBMIT = 'mutation { submitClassification(input: {texts: ["by header"]}) { id } }'


@dataclass
class RequestData:
    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


async def post(
    schema: strawberry.Schema, h: Harness, context_for: ContextFactory
) -> tuple[Any, list[HttpOutcome]]:
    """SUBMIT as the view runs it, with the header ``Idempotency-Key: h-1``."""
    context = context_for(h)
    outcomes: list[HttpOutcome] = []
    result = await context.services.guard.run_http(
        context.security,
        {"idempotency-key": "h-1"},
        "POST",
        RequestData(SUBMIT),
        lambda: schema.execute(SUBMIT, context_value=context),
        outcomes.append,
    )
    return result, outcomes


async def job_ids(h: Harness) -> list[str]:
    return [j.id for j in await h.backend.jobs.list(status=None, before=None, limit=100)]


async def test_a_submission_that_fails_after_storing_its_job_is_replayed(
    schema: strawberry.Schema,
    harness: HarnessFactory,
    context_for: ContextFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = harness(start=False, auth="off")  # about idempotency, not credentials
    real = h.backend.submit

    async def stored_then_lost(job: Job) -> None:
        await real(job)
        monkeypatch.setattr(h.backend, "submit", real)
        raise UnavailableError("The reply was lost.")

    monkeypatch.setattr(h.backend, "submit", stored_then_lost)
    failed, _ = await post(schema, h, context_for)
    retried, (outcome,) = await post(schema, h, context_for)

    assert failed.data is None
    assert [e.extensions["code"] for e in failed.errors] == ["UNAVAILABLE"]
    assert not retried.errors
    assert outcome.headers.get("Idempotent-Replayed") == "true"
    assert await job_ids(h) == [retried.data["submitClassification"]["id"]]


async def test_a_request_cancelled_after_storing_its_job_is_replayed(
    schema: strawberry.Schema,
    harness: HarnessFactory,
    context_for: ContextFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = harness(start=False, auth="off")  # about idempotency, not credentials
    real = h.backend.submit
    stored = asyncio.Event()

    async def stored_then_hangs(job: Job) -> None:
        await real(job)
        monkeypatch.setattr(h.backend, "submit", real)
        stored.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(h.backend, "submit", stored_then_hangs)
    first = asyncio.create_task(post(schema, h, context_for))
    await stored.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    retried, (outcome,) = await post(schema, h, context_for)

    assert not retried.errors
    assert outcome.headers.get("Idempotent-Replayed") == "true"
    assert await job_ids(h) == [retried.data["submitClassification"]["id"]]
