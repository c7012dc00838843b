"""JobService: validation, the cache, deadlines, cancel, watch and pages."""

from __future__ import annotations

import asyncio

import pytest

from inferql.errors import (
    BadUserInputError,
    ConflictError,
    DeadlineExceededError,
    ErrorCode,
    ModelNotFoundError,
    NotFoundError,
)
from inferql.jobs.model import JobEventType, JobStatus, new_job_id
from tests.conftest import HarnessFactory


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ([], "at least one text"),
        (["fine", "   "], "Text 1 is empty"),
        (["x" * 101], "at most 100"),
        (["t"] * 6, "at most 5"),
    ],
)
async def test_bad_texts_are_refused_with_a_clear_message(
    harness: HarnessFactory, texts: list[str], message: str
) -> None:
    h = harness(max_text_chars=100, max_texts_per_job=5)
    with pytest.raises(BadUserInputError, match=message) as caught:
        await h.service.submit(texts)
    assert caught.value.code is ErrorCode.BAD_USER_INPUT
    assert await h.backend.queue.depth() == 0


async def test_an_unknown_model_is_refused(harness: HarnessFactory) -> None:
    h = harness()
    with pytest.raises(ModelNotFoundError):
        await h.service.submit(["hello"], "no-such-model")
    with pytest.raises(ModelNotFoundError):
        await h.service.classify(["hello"], "sentiment@999")


async def test_the_default_model_is_the_latest_sentiment(harness: HarnessFactory) -> None:
    h = harness()
    job = await h.service.submit(["hello"])
    assert job.model.name == "sentiment"


async def test_classify_answers_repeats_from_the_cache(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=0)
    first = await h.service.classify(["cache me", "and me"])
    second = await h.service.classify(["and me", "new one", "cache me"])

    assert [p.cached for p in first] == [False, False]
    assert [(p.label, p.cached) for p in second] == [
        ("and me", True),
        ("new one", False),
        ("cache me", True),
    ]
    assert h.models.batches == [["cache me", "and me"], ["new one"]]


async def test_a_fully_cached_submission_finishes_without_a_worker(
    harness: HarnessFactory,
) -> None:
    h = harness(max_wait_ms=0)
    await h.service.classify(["known"])
    job = await h.service.submit(["known"])

    assert job.status is JobStatus.SUCCEEDED
    assert job.predictions is not None and job.predictions[0].cached
    assert len(h.models.batches) == 1


async def test_classify_past_its_deadline_fails_and_cancels_the_job(
    harness: HarnessFactory,
) -> None:
    h = harness(delay=1.0, max_wait_ms=0, sync_deadline_ms=100)
    with pytest.raises(DeadlineExceededError):
        await h.service.classify(["too slow"])
    page = await h.service.list(first=1, after=None, status=None)
    assert page.jobs[0].status is JobStatus.CANCELED


async def test_cancel_refuses_unknown_and_finished_jobs(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=0)
    with pytest.raises(NotFoundError):
        await h.service.cancel("01NOSUCHJOB")
    job = await h.service.submit(["done soon"])
    await h.service.wait(job.id, 5)
    with pytest.raises(ConflictError):
        await h.service.cancel(job.id)


async def test_watch_after_the_end_gets_the_final_state_at_once(
    harness: HarnessFactory,
) -> None:
    h = harness(max_wait_ms=0)
    job = await h.service.submit(["quick"])
    await h.service.wait(job.id, 5)

    events = [event async for event in h.service.watch(job.id)]

    assert [e.type for e in events] == [JobEventType.SUCCEEDED]
    assert events[0].job.predictions is not None


async def test_watch_of_an_unknown_job_is_not_found(harness: HarnessFactory) -> None:
    h = harness()
    with pytest.raises(NotFoundError):
        async for _ in h.service.watch("01NOSUCHJOB"):
            pass


async def test_events_stream_every_job(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=0, start=False)
    seen: list[tuple[str, JobEventType]] = []
    watched: set[str] = set()

    async def listen() -> None:
        async for event in h.service.events():
            seen.append((event.job.id, event.type))
            succeeded = {i for i, t in seen if t is JobEventType.SUCCEEDED}
            if watched and watched <= succeeded:
                return

    listener = asyncio.create_task(listen())
    # The stream is live once it delivers an event (on Redis subscribing takes a
    # round trip): submit probe jobs until one is seen, then the jobs under test.
    async with asyncio.timeout(5):
        while not seen:
            await h.service.submit(["probe"])
            await asyncio.sleep(0.01)
    a = await h.service.submit(["a"])
    b = await h.service.submit(["b"])
    watched.update((a.id, b.id))
    h.start_worker()
    await asyncio.wait_for(listener, 5)

    for job in (a, b):
        types = [t for job_id, t in seen if job_id == job.id]
        assert types == [JobEventType.QUEUED, JobEventType.STARTED, JobEventType.SUCCEEDED]


async def test_pages_run_newest_first_and_filter_by_status(harness: HarnessFactory) -> None:
    h = harness(start=False)
    ids = [(await h.service.submit([f"job {i}"])).id for i in range(5)]
    await h.service.cancel(ids[1])

    first = await h.service.list(first=2, after=None, status=None)
    second = await h.service.list(first=2, after=first.cursor(first.jobs[-1]), status=None)
    last = await h.service.list(first=2, after=second.cursor(second.jobs[-1]), status=None)
    canceled = await h.service.list(first=10, after=None, status=JobStatus.CANCELED)

    assert [j.id for j in first.jobs + second.jobs + last.jobs] == ids[::-1]
    assert (first.has_next_page, second.has_next_page, last.has_next_page) == (True, True, False)
    assert [j.id for j in canceled.jobs] == [ids[1]]


@pytest.mark.parametrize(("first", "after"), [(-1, None), (101, None), (5, "not-a-cursor")])
async def test_bad_page_arguments_are_refused(
    harness: HarnessFactory, first: int, after: str | None
) -> None:
    h = harness(start=False)
    with pytest.raises(BadUserInputError):
        await h.service.list(first=first, after=after, status=None)


@pytest.mark.parametrize("cached", [False, True])
async def test_a_job_submitted_again_under_its_id_answers_the_job_stored(
    harness: HarnessFactory, cached: bool
) -> None:
    """An idempotent submission's retry may create its job after a request that
    gave up on it did: the answer is the job as stored, not a copy made again."""
    h = harness(start=False)
    if cached:
        h.start_worker()
        await h.service.classify(["again"])
    job_id = new_job_id()
    first = await h.service.submit(["again"], job_id=job_id)
    second = await h.service.submit(["again"], job_id=job_id)

    assert second == first == await h.backend.jobs.get(job_id)
    assert (await h.backend.jobs.counters())["submitted"] == (2 if cached else 1)
