"""What only the Redis backend has: several workers and API replicas over one
Redis, claims that move from a dead worker to a live one (and never from a live
one, unless it could not start them), dead letters, and a cache shared by every
replica."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from inferql.backends import create_backend
from inferql.backends.redis import RedisBackend
from inferql.errors import UnavailableError
from inferql.inference import LabelScore, Prediction
from inferql.jobs.model import JobEventType, JobStatus
from inferql.security.apikeys import new_webhook_secret
from inferql.security.caller import LOCAL_CALLER
from tests.conftest import Harness, SettingsFactory
from tests.processes import RedisInspector
from tests.redis_server import RedisServer
from tests.support import CountingModels

RedisHarness = Callable[..., Harness]
# Webhooks to this machine are allowed; no harness runs a dispatcher, so they stay queued.
WEBHOOKS = {"webhook_allow_private": True}


@pytest.fixture
async def redis_harness(
    catalog: Any, make_settings: SettingsFactory, redis_server: RedisServer, redis_prefix: str
) -> AsyncIterator[RedisHarness]:
    """Harnesses on ONE Redis and key prefix: each is another process's view."""
    built: list[Harness] = []

    def make(*, delay: float = 0.0, start: bool = True, **settings: Any) -> Harness:
        h = Harness(
            make_settings(redis_url=redis_server.url, redis_prefix=redis_prefix, **settings),
            catalog,
            CountingModels(delay=delay),
        )
        if start:
            h.start_worker()
        built.append(h)
        return h

    yield make
    for h in built:
        await h.stop()


async def test_a_cache_hit_on_one_replica_never_reaches_a_worker(
    redis_harness: RedisHarness,
) -> None:
    first = redis_harness()
    await first.service.classify(["shared text"])
    replica = redis_harness(start=False)  # an API replica with no worker

    (prediction,) = await replica.service.classify(["shared text"])
    job = await replica.service.submit(["shared text"])

    assert prediction.cached
    assert job.status is JobStatus.SUCCEEDED and job.predictions is not None
    assert job.predictions[0].cached
    assert first.models.batches == [["shared text"]]
    assert await first.backend.queue.depth() == 0


async def take_and_die(h: Harness) -> int:
    """A worker process on ``h``'s settings takes one job, then dies: its claim is
    never renewed, acked or handed back. The delivery's attempt number."""
    doomed = create_backend(h.settings)
    (taken,) = await doomed.queue.take(1, timeout=1)
    await doomed.close()
    return taken.attempt


async def test_a_dead_workers_job_is_taken_over(redis_harness: RedisHarness) -> None:
    api = redis_harness(start=False, claim_idle_ms=200)
    job = await api.service.submit(["orphan"])
    assert await take_and_die(api) == 1

    survivor = redis_harness(claim_idle_ms=200)
    finished = await survivor.service.wait(job.id, 10)

    assert finished.status is JobStatus.SUCCEEDED
    assert survivor.models.batches == [["orphan"]]


async def test_jobs_taken_as_redis_fails_mid_intake_go_back_to_the_queue(
    redis_harness: RedisHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis drops out after the worker took a job, before it marked it RUNNING:
    the live worker must not keep renewing a claim on a job it does not run."""
    h = redis_harness(start=False, claim_idle_ms=300)
    job = await h.service.submit(["taken in a blip"])
    advance_each = h.backend.advance_each
    failures: list[str] = []

    async def blip(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append("advance_each")
            raise UnavailableError("Redis cannot be reached (injected)")
        return await advance_each(*args, **kwargs)

    monkeypatch.setattr(h.backend, "advance_each", blip)
    h.start_worker()
    finished = await h.service.wait(job.id, 10)

    assert failures == ["advance_each"]
    assert finished.status is JobStatus.SUCCEEDED
    assert h.models.batches == [["taken in a blip"]]


async def test_a_job_handed_back_in_blip_after_blip_is_not_dead_lettered(
    redis_harness: RedisHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More Redis blips while a worker holds a job than ``max_deliveries``: each
    time the worker hands it back unrun, which is no delivery that failed."""
    h = redis_harness(start=False, claim_idle_ms=300, max_deliveries=1)
    job = await h.service.submit(["taken in blip after blip"])
    advance_each = h.backend.advance_each
    failures: list[str] = []

    async def blip(*args: Any, **kwargs: Any) -> Any:
        if len(failures) < 3:
            failures.append("advance_each")
            raise UnavailableError("Redis cannot be reached (injected)")
        return await advance_each(*args, **kwargs)

    monkeypatch.setattr(h.backend, "advance_each", blip)
    h.start_worker()
    finished = await h.service.wait(job.id, 10)

    assert len(failures) == 3
    assert finished.status is JobStatus.SUCCEEDED
    assert h.models.batches == [["taken in blip after blip"]]


async def test_a_job_its_dead_worker_finished_is_announced_once_by_the_next(
    redis_harness: RedisHarness, redis_server: RedisServer, redis_prefix: str
) -> None:
    api = redis_harness(start=False, claim_idle_ms=200)
    job = await api.service.submit(["finished, never announced"])
    # A worker takes the job and stores its result, then dies before it can
    # announce the end or ack the delivery.
    doomed = create_backend(api.settings)
    (taken,) = await doomed.queue.take(1, timeout=1)
    await doomed.jobs.update(job.id, frozenset({JobStatus.QUEUED}), status=JobStatus.RUNNING)
    done = await doomed.jobs.update(
        job.id,
        frozenset({JobStatus.RUNNING}),
        status=JobStatus.SUCCEEDED,
        done=1,
        predictions=(Prediction("positive", 0.9, (LabelScore("positive", 0.9),), job.model),),
    )
    await doomed.close()
    assert done is not None

    async with api.backend.events.subscribe(job.id) as events:
        survivor = redis_harness(claim_idle_ms=200)
        async with asyncio.timeout(10):
            event = await anext(aiter(events))
        with pytest.raises(TimeoutError):  # once: nothing more about this job
            async with asyncio.timeout(0.5):
                await anext(aiter(events))

    assert taken.attempt == 1
    assert event.type is JobEventType.SUCCEEDED and event.job == done
    assert survivor.models.batches == []  # announced, not run again
    inspector = RedisInspector(redis_server.url, redis_prefix)
    try:
        assert inspector.pending() == 0  # the delivery was acked
    finally:
        inspector.close()


async def test_a_live_worker_keeps_its_claim_through_a_slow_batch(
    redis_harness: RedisHarness,
) -> None:
    slow = redis_harness(delay=1.0, claim_idle_ms=300, max_wait_ms=0)
    job = await slow.service.submit(["slow"])
    await slow.until_model_called()
    other = redis_harness(claim_idle_ms=300)  # polls for idle claims meanwhile

    finished = await other.service.wait(job.id, 10)

    assert finished.status is JobStatus.SUCCEEDED
    assert other.models.batches == []
    assert slow.models.batches == [["slow"]]


async def test_a_job_delivered_too_often_is_dead_lettered_and_failed(
    redis_harness: RedisHarness,
) -> None:
    api = redis_harness(start=False, claim_idle_ms=100, max_deliveries=2, **WEBHOOKS)
    await api.backend.api_keys.set_webhook_secret(LOCAL_CALLER.owner, new_webhook_secret())
    job = await api.service.submit(["poison"], webhook_url="http://127.0.0.1:9/hook")
    assert await take_and_die(api) == 1
    await asyncio.sleep(0.15)
    assert await take_and_die(api) == 2
    await asyncio.sleep(0.15)
    backend = api.backend
    assert isinstance(backend, RedisBackend)

    async with backend.events.subscribe(job.id) as stream:
        redis_harness(claim_idle_ms=100, max_deliveries=2)
        event = await anext(aiter(stream))

    assert event.type is JobEventType.FAILED
    assert event.job.error is not None and "2 deliveries" in event.job.error.message
    assert await backend.client.xlen(backend.keys.dead_letters) == 1
    counters = await backend.jobs.counters()
    assert counters["dead_lettered"] == 1 and counters.get("failed") == 1
    (webhook,) = await backend.webhooks.take(now=time.time() + 1, limit=10, lease_s=1)
    assert webhook.job_id == job.id
    assert json.loads(webhook.payload)["type"] == "job.failed"


async def test_a_job_failed_by_a_worker_that_died_dead_lettering_it_is_announced(
    redis_harness: RedisHarness,
) -> None:
    """A worker marked the job FAILED for too many deliveries, then died before
    announcing it or queueing its webhook: the next worker does both."""
    api = redis_harness(start=False, claim_idle_ms=100, max_deliveries=1, **WEBHOOKS)
    await api.backend.api_keys.set_webhook_secret(LOCAL_CALLER.owner, new_webhook_secret())
    job = await api.service.submit(["poison"], webhook_url="http://127.0.0.1:9/hook")
    assert await take_and_die(api) == 1
    await asyncio.sleep(0.15)
    failed = await api.backend.jobs.update(
        job.id, frozenset({JobStatus.QUEUED}), status=JobStatus.FAILED, finished_at=job.created_at
    )
    assert failed is not None and await api.backend.webhooks.pending() == 0

    async with api.backend.events.subscribe(job.id) as stream:
        redis_harness(claim_idle_ms=100, max_deliveries=1)
        async with asyncio.timeout(10):
            event = await anext(aiter(stream))

    assert event.type is JobEventType.FAILED and event.job == failed
    (webhook,) = await api.backend.webhooks.take(now=time.time() + 1, limit=10, lease_s=1)
    assert webhook.job_id == job.id


async def test_one_worker_batches_the_jobs_of_every_replica(redis_harness: RedisHarness) -> None:
    replicas = [redis_harness(start=False), redis_harness(start=False)]
    worker = redis_harness(batch_wait="fixed", max_wait_ms=300, max_batch_texts=32)

    jobs = await asyncio.gather(*(replicas[i % 2].service.submit([f"text {i}"]) for i in range(8)))
    finished = await asyncio.gather(*(replicas[0].service.wait(job.id, 10) for job in jobs))

    assert {job.status for job in finished} == {JobStatus.SUCCEEDED}
    assert len(worker.models.batches) == 1
    assert sorted(worker.models.batches[0]) == sorted(f"text {i}" for i in range(8))


async def test_a_job_run_again_after_its_worker_died_never_reports_less_progress(
    redis_harness: RedisHarness,
) -> None:
    """A dead worker got two texts of three done; the one that runs the job again
    starts over, and says nothing until it is past where the first one was."""
    api = redis_harness(start=False, claim_idle_ms=200)
    job = await api.service.submit(["one", "two", "three"])
    doomed = create_backend(api.settings)
    (taken,) = await doomed.queue.take(1, timeout=1)
    running = frozenset({JobStatus.RUNNING})
    await doomed.advance(
        job.id, frozenset({JobStatus.QUEUED}), JobEventType.STARTED, status=JobStatus.RUNNING
    )
    await doomed.advance(job.id, running, JobEventType.PROGRESS, done=2)
    await doomed.close()

    heard: list[tuple[JobEventType, int]] = []
    async with api.backend.events.subscribe(job.id) as stream:
        survivor = redis_harness(claim_idle_ms=200, max_batch_texts=1)
        async with asyncio.timeout(10):
            async for event in stream:
                heard.append((event.type, event.job.done))
                if event.type.terminal:
                    break

    assert taken.job_id == job.id
    assert heard == [(JobEventType.SUCCEEDED, 3)]
    assert survivor.models.batches == [["one"], ["two"], ["three"]]


async def test_a_fully_cached_job_is_stored_announced_and_webhooked_in_one_step(
    redis_harness: RedisHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker ever sees a job whose every text was cached, so nothing would
    announce it or send its webhook later: the job, its end and its webhook are
    one script, with no separate step left to fail after the job is stored."""
    h = redis_harness(**WEBHOOKS)
    await h.backend.api_keys.set_webhook_secret(LOCAL_CALLER.owner, new_webhook_secret())
    await h.service.classify(["cached"])

    async def unreachable(*args: Any, **kwargs: Any) -> None:
        raise UnavailableError("Redis cannot be reached (injected)")

    monkeypatch.setattr(h.backend.events, "publish", unreachable)
    monkeypatch.setattr(h.backend.webhooks, "add", unreachable)
    async with h.backend.events.subscribe() as stream:
        job = await h.service.submit(["cached"], webhook_url="http://127.0.0.1:9/hook")
        async with asyncio.timeout(5):
            heard = await anext(aiter(stream))

    assert job.status is JobStatus.SUCCEEDED
    assert (heard.type, heard.job.id) == (JobEventType.SUCCEEDED, job.id)
    assert await h.backend.webhooks.pending() == 1
