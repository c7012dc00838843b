"""The worker's batching and scheduling, observed through a counting model."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from inferql.jobs.batcher import estimate_tokens
from inferql.jobs.model import JobEventType, JobStatus
from tests.conftest import HarnessFactory


async def test_jobs_within_max_wait_share_one_model_call(harness: HarnessFactory) -> None:
    h = harness(batch_wait="fixed", max_wait_ms=300, max_batch_texts=32)
    jobs = await asyncio.gather(*(h.service.submit([f"text {i}"]) for i in range(8)))

    finished = await asyncio.gather(*(h.service.wait(job.id, 10) for job in jobs))

    assert [job.status for job in finished] == [JobStatus.SUCCEEDED] * 8
    assert len(h.models.batches) == 1
    assert sorted(h.models.batches[0]) == sorted(f"text {i}" for i in range(8))


async def test_a_full_batch_does_not_wait(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=60_000, max_batch_texts=4)
    job = await h.service.submit(["a", "b", "c", "d"])

    finished = await h.service.wait(job.id, 5)

    assert finished.status is JobStatus.SUCCEEDED
    assert h.models.batches == [["a", "b", "c", "d"]]


async def test_a_batch_goes_to_the_model_and_is_answered_in_the_jobs_order(
    harness: HarnessFactory,
) -> None:
    """The model pads as little as it can itself (passes by length): the worker
    hands it the texts as they came."""
    h = harness(max_wait_ms=50)
    texts = ["a much longer text than the others", "short", "middle length"]
    job = await h.service.submit(texts)

    finished = await h.service.wait(job.id, 5)

    assert h.models.batches == [texts]
    assert finished.predictions is not None
    assert [p.label for p in finished.predictions] == texts


async def test_a_job_larger_than_a_batch_is_split_and_reports_progress(
    harness: HarnessFactory,
) -> None:
    h = harness(max_wait_ms=0, max_batch_texts=4, start=False)
    texts = [f"t{i:02}" for i in range(10)]
    job = await h.service.submit(texts)
    events = h.service.watch(job.id)
    seen = [await anext(events)]  # the snapshot: QUEUED
    h.start_worker()
    seen += [event async for event in events]

    assert [e.type for e in seen] == [
        JobEventType.QUEUED,
        JobEventType.STARTED,
        JobEventType.PROGRESS,
        JobEventType.PROGRESS,
        JobEventType.SUCCEEDED,
    ]
    assert [e.job.done for e in seen] == [0, 0, 4, 8, 10]
    assert [len(b) for b in h.models.batches] == [4, 4, 2]
    final = seen[-1].job
    assert final.predictions is not None
    assert [p.label for p in final.predictions] == texts


async def test_a_model_failure_fails_the_batch_jobs_without_leaking_details(
    harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(fail=True, max_wait_ms=0)
    job = await h.service.submit(["boom"])

    with caplog.at_level(logging.ERROR):
        finished = await h.service.wait(job.id, 5)

    assert finished.status is JobStatus.FAILED
    assert finished.error is not None
    assert finished.error.code == "INTERNAL"
    assert "GPU" not in finished.error.message
    assert "GPU caught fire" in caplog.text  # logged for the operator


async def test_a_canceled_queued_job_is_never_run(harness: HarnessFactory) -> None:
    h = harness(start=False)
    doomed = await h.service.submit(["never classify me"])
    await h.service.cancel(doomed.id)
    kept = await h.service.submit(["classify me"])
    h.start_worker()

    await h.service.wait(kept.id, 5)

    assert h.models.batches == [["classify me"]]
    job = await h.service.get(doomed.id)
    assert job is not None and job.status is JobStatus.CANCELED


async def test_jobs_of_different_models_make_one_call_per_model(harness: HarnessFactory) -> None:
    h = harness(batch_wait="fixed", max_wait_ms=200)
    jobs = await asyncio.gather(
        h.service.submit(["one"], "sentiment"),
        h.service.submit(["two"], "topic"),
        h.service.submit(["three"], "sentiment@2"),
    )
    await asyncio.gather(*(h.service.wait(job.id, 5) for job in jobs))

    calls = sorted((str(ref), sorted(texts)) for ref, texts in h.models.calls)
    # "sentiment" means its latest version, sentiment@2: one call for both jobs.
    assert calls == [("sentiment@2", ["one", "three"]), ("topic@1", ["two"])]


async def test_stop_finishes_the_jobs_already_taken(harness: HarnessFactory) -> None:
    h = harness(delay=0.2, max_wait_ms=0)
    job = await h.service.submit(["slow"])
    await h.until_model_called()

    await h.stop()

    finished = await h.service.get(job.id)
    assert finished is not None and finished.status is JobStatus.SUCCEEDED


async def test_the_model_runs_off_the_event_loop(harness: HarnessFactory) -> None:
    h = harness(delay=0.5, max_wait_ms=0)
    job = await h.service.submit(["slow text"])
    await h.until_model_called()
    await asyncio.sleep(0.01)

    # Had the 0.5 s call run on the loop, the loop could only get here after it ended.
    assert time.monotonic() - h.models.started_at[0] < 0.25
    assert (await h.service.wait(job.id, 5)).status is JobStatus.SUCCEEDED


async def test_a_running_worker_counts_as_alive_until_it_stops(harness: HarnessFactory) -> None:
    h = harness(start=False)
    assert await h.backend.queue.workers_alive() == 0
    h.start_worker()
    async with asyncio.timeout(5):
        while await h.backend.queue.workers_alive() != 1:  # noqa: ASYNC110 - the worker starts
            await asyncio.sleep(0.01)

    await h.stop()

    assert await h.backend.queue.workers_alive() == 0


async def test_events_after_a_model_call_name_its_batch(harness: HarnessFactory) -> None:
    h = harness(max_wait_ms=0, max_batch_texts=3, start=False)
    small, large = await h.service.submit(["a"]), await h.service.submit(["b", "c", "d", "e"])
    async with h.backend.events.subscribe() as stream:
        h.start_worker()
        events = []
        async with asyncio.timeout(5):
            async for event in stream:
                events.append(event)
                if event.job.id == large.id and event.type.terminal:
                    break

    by_type = [(e.job.id, e.type, e.batch) for e in events]
    batched = [(job_id, kind, batch) for job_id, kind, batch in by_type if batch is not None]
    # Batch 1: "a" + "b", "c" (3 texts, two jobs); batch 2: "d", "e".
    assert [(job_id, kind) for job_id, kind, _ in batched] == [
        (small.id, JobEventType.SUCCEEDED),
        (large.id, JobEventType.PROGRESS),
        (large.id, JobEventType.SUCCEEDED),
    ]
    first, second = batched[0][2], batched[2][2]
    assert first is not None and second is not None
    assert batched[1][2] == first and first.texts == 3 and second.texts == 2
    assert first.id != second.id
    assert all(e.batch is None for e in events if e.type is JobEventType.STARTED)


async def test_an_idle_worker_takes_a_lone_job_straight_to_the_model(
    harness: HarnessFactory,
) -> None:
    # A fixed wait of a minute would hold the first job for the second one.
    h = harness(batch_wait="adaptive", max_wait_ms=60_000)
    first = await h.service.submit(["alone"])
    await h.until_model_called()
    second = await h.service.submit(["later"])
    await asyncio.gather(h.service.wait(first.id, 5), h.service.wait(second.id, 5))

    assert h.models.batches == [["alone"], ["later"]]


async def test_jobs_queued_while_the_model_is_busy_share_the_next_call(
    harness: HarnessFactory,
) -> None:
    h = harness(batch_wait="adaptive", delay=0.3, max_wait_ms=0)
    first = await h.service.submit(["first"])
    await h.until_model_called()
    later = [await h.service.submit([f"queued {i}"]) for i in range(5)]
    await asyncio.gather(*(h.service.wait(job.id, 10) for job in [first, *later]))

    assert h.models.batches[0] == ["first"]
    assert sorted(h.models.batches[1]) == sorted(f"queued {i}" for i in range(5))
    assert len(h.models.batches) == 2


async def test_the_worker_respects_the_token_budget(harness: HarnessFactory) -> None:
    long_text = "word " * 400
    h = harness(start=False, max_batch_texts=32, max_batch_tokens=512)
    job = await h.service.submit([long_text] * 3 + ["short"] * 4)
    h.start_worker()

    finished = await h.service.wait(job.id, 10)

    assert finished.status is JobStatus.SUCCEEDED
    # 2 x 256 tokens, then a long text padding one short (2 x 256), then 3 shorts.
    assert [len(batch) for batch in h.models.batches] == [2, 2, 3]
    assert all(
        len(batch) * max(estimate_tokens(t) for t in batch) <= 512 for batch in h.models.batches
    )


async def test_a_worker_runs_up_to_model_calls_batches_at_once(harness: HarnessFactory) -> None:
    h = harness(model_calls=2, delay=0.5, max_wait_ms=0)
    first = await h.service.submit(["first"])
    await h.until_model_called()
    second = await h.service.submit(["second"])
    await h.until_model_called(calls=2)
    third = await h.service.submit(["third"])  # both calls busy: it waits for one
    await asyncio.gather(*(h.service.wait(job.id, 10) for job in (first, second, third)))

    assert h.models.batches == [["first"], ["second"]] + [["third"]]
    began = h.models.started_at
    assert began[1] - began[0] < 0.5  # beside the first call, not after it
    assert began[2] - began[0] >= 0.5  # after the first call returned


async def test_batches_that_finish_out_of_order_are_written_in_order(
    harness: HarnessFactory,
) -> None:
    # The first batch is slow, the second fast: the second's results wait.
    h = harness(model_calls=2, delays={"t0": 0.5}, max_batch_texts=2, max_wait_ms=0, start=False)
    texts = ["t0", "t1", "t2", "t3"]
    job = await h.service.submit(texts)
    events = h.service.watch(job.id)
    seen = [await anext(events)]  # the snapshot: QUEUED
    h.start_worker()
    seen += [event async for event in events]

    assert sorted(h.models.batches) == [["t0", "t1"], ["t2", "t3"]]
    assert [(e.type, e.job.done) for e in seen] == [
        (JobEventType.QUEUED, 0),
        (JobEventType.STARTED, 0),
        (JobEventType.PROGRESS, 2),
        (JobEventType.SUCCEEDED, 4),
    ]
    final = seen[-1].job.predictions
    assert final is not None and [p.label for p in final] == texts


async def test_a_job_in_a_fast_batch_is_not_held_behind_another_jobs_slow_one(
    harness: HarnessFactory,
) -> None:
    # Jobs that share no batch keep no order: the fast one is answered at once.
    h = harness(model_calls=2, delays={"slow": 0.8}, max_wait_ms=0)
    slow = await h.service.submit(["slow"])
    await h.until_model_called()
    fast = await h.service.submit(["fast"])

    answered = await h.service.wait(fast.id, 5)
    still = await h.service.get(slow.id)

    assert answered.status is JobStatus.SUCCEEDED
    assert still is not None and still.status is JobStatus.RUNNING
    assert (await h.service.wait(slow.id, 5)).status is JobStatus.SUCCEEDED


async def test_work_that_joins_a_call_in_flight_waits_for_company(
    harness: HarnessFactory,
) -> None:
    h = harness(model_calls=2, delay=0.4, batch_wait_fraction=0.5, max_wait_ms=10_000)
    warm = await h.service.submit(["warm"])  # measures the call: 0.4 s
    await h.service.wait(warm.id, 5)
    alone = await h.service.submit(["alone"])  # an idle worker: straight to the model
    await h.until_model_called(calls=2)
    joined = [await h.service.submit([f"joined {i}"]) for i in range(4)]
    await asyncio.gather(*(h.service.wait(job.id, 10) for job in [alone, *joined]))

    # A free call took the first of them, then waited half a call for the rest.
    assert h.models.batches[:2] == [["warm"], ["alone"]]
    assert sorted(h.models.batches[2]) == [f"joined {i}" for i in range(4)]
    assert len(h.models.batches) == 3


async def test_a_job_whose_first_batch_fails_fails_once_while_its_next_batch_runs(
    harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Both halves of the job are with the model at once; the first call fails.
    h = harness(
        model_calls=2,
        delays={"t0": 0.3},
        failing={"t0"},
        max_batch_texts=2,
        max_wait_ms=0,
        start=False,
    )
    job = await h.service.submit(["t0", "t1", "t2", "t3"])
    other = await h.service.submit(["later"])
    events = h.service.watch(job.id)
    seen = [await anext(events)]
    h.start_worker()
    with caplog.at_level(logging.ERROR):
        seen += [event async for event in events]
    later = await h.service.wait(other.id, 5)

    assert sorted(h.models.batches[:2]) == [["t0", "t1"], ["t2", "t3"]]
    assert [e.type for e in seen] == [
        JobEventType.QUEUED,
        JobEventType.STARTED,
        JobEventType.FAILED,
    ]
    assert seen[-1].job.predictions is None  # the second half's results are dropped
    assert later.status is JobStatus.SUCCEEDED  # the worker carried on
