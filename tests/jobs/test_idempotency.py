"""Idempotent submission over each backend: one job per (caller, key), whatever
fails and whenever."""

from __future__ import annotations

import asyncio

import pytest

from inferql.errors import (
    BadUserInputError,
    IdempotencyKeyInUseError,
    IdempotencyKeyMismatchError,
    UnavailableError,
)
from inferql.jobs.model import Job
from inferql.security.caller import Caller
from tests.conftest import Harness, HarnessFactory

ALICE = Caller(owner="alice", scopes=frozenset({"classify", "jobs"}), via="api-key")
BOB = Caller(owner="bob", scopes=frozenset({"classify", "jobs"}), via="api-key")


async def test_a_retry_with_the_same_key_replays_the_first_job(harness: HarnessFactory) -> None:
    h = harness()
    first, replayed_first = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    second, replayed_second = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    bobs, _ = await h.service.submit_once(["a"], caller=BOB, idempotency_key="k")

    assert (replayed_first, replayed_second) == (False, True)
    assert second.id == first.id
    assert bobs.id != first.id  # keys are per caller
    page = await h.service.list(first=10, after=None, status=None)
    assert len(page.jobs) == 2


async def test_the_same_key_with_another_input_is_a_mismatch(harness: HarnessFactory) -> None:
    h = harness()
    await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    with pytest.raises(IdempotencyKeyMismatchError):
        await h.service.submit_once(["b"], caller=ALICE, idempotency_key="k")
    with pytest.raises(IdempotencyKeyMismatchError):
        await h.service.submit_once(["a"], "topic", caller=ALICE, idempotency_key="k")


async def test_a_key_in_flight_is_in_use(harness: HarnessFactory) -> None:
    """The first request holds the key until its job exists; a duplicate that
    arrives meanwhile is told so, and one that comes later replays."""
    h = harness()
    release = asyncio.Event()
    idempotency = h.service.idempotency

    async def slow_create(job_id: str) -> Job:
        await release.wait()
        return await h.service.submit(["slow"], caller=ALICE, job_id=job_id)

    first = asyncio.create_task(idempotency.run("alice", "k", "print", slow_create))
    await asyncio.sleep(0.05)
    with pytest.raises(IdempotencyKeyInUseError):
        await idempotency.run("alice", "k", "print", slow_create)
    release.set()
    job, replayed = await first
    again, again_replayed = await idempotency.run("alice", "k", "print", slow_create)

    assert (replayed, again_replayed) == (False, True)
    assert again.id == job.id


async def test_concurrent_duplicates_create_exactly_one_job(harness: HarnessFactory) -> None:
    h = harness()

    async def attempt() -> str:
        try:
            job, _ = await h.service.submit_once(
                ["dup", "licate"], caller=ALICE, idempotency_key="burst"
            )
        except IdempotencyKeyInUseError:
            return "in use"
        return job.id

    outcomes = await asyncio.gather(*(attempt() for _ in range(20)))

    ids = {o for o in outcomes if o != "in use"}
    assert len(ids) == 1
    page = await h.service.list(first=100, after=None, status=None)
    assert [j.id for j in page.jobs] == list(ids)


async def test_a_request_that_fails_releases_its_key(harness: HarnessFactory) -> None:
    h = harness()
    with pytest.raises(BadUserInputError):
        await h.service.submit_once(["   "], caller=ALICE, idempotency_key="k")
    job, replayed = await h.service.submit_once(["fixed"], caller=ALICE, idempotency_key="k")
    assert not replayed and job.texts == ("fixed",)


async def test_a_key_is_forgotten_after_its_retention(harness: HarnessFactory) -> None:
    h = harness(idempotency_retention_s=0.05)
    first, _ = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    await asyncio.sleep(0.1)
    second, replayed = await h.service.submit_once(["b"], caller=ALICE, idempotency_key="k")
    assert not replayed and second.id != first.id


async def test_a_bad_key_is_bad_input(harness: HarnessFactory) -> None:
    h = harness()
    for key in ("", "x" * 256, "tab\there", "ключ"):
        with pytest.raises(BadUserInputError):
            await h.service.submit_once(["a"], caller=ALICE, idempotency_key=key)


# -- failures whose outcome is uncertain ----------------------------------------


async def all_jobs(h: Harness) -> list[Job]:
    return await h.backend.jobs.list(status=None, before=None, limit=100)


async def test_a_submission_that_fails_after_storing_its_job_is_not_made_twice(
    harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job was stored but its reply was lost: the retry replays that job, and
    another input under the key is a mismatch, as after a success."""
    h = harness(start=False)
    real = h.backend.submit

    async def stored_then_lost(job: Job) -> None:
        await real(job)
        monkeypatch.setattr(h.backend, "submit", real)
        raise UnavailableError("The reply was lost.")

    monkeypatch.setattr(h.backend, "submit", stored_then_lost)
    with pytest.raises(UnavailableError):
        await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    job, replayed = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    with pytest.raises(IdempotencyKeyMismatchError):
        await h.service.submit_once(["b"], caller=ALICE, idempotency_key="k")

    assert replayed
    assert [j.id for j in await all_jobs(h)] == [job.id]


async def test_a_cancelled_submission_is_not_made_twice(
    harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cancelled after its job was stored (the client went away while
    the reply was on its way): the cancellation goes on, the retry replays."""
    h = harness(start=False)
    real = h.backend.submit
    stored = asyncio.Event()

    async def stored_then_hangs(job: Job) -> None:
        await real(job)
        monkeypatch.setattr(h.backend, "submit", real)
        stored.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(h.backend, "submit", stored_then_hangs)
    first = asyncio.create_task(h.service.submit_once(["a"], caller=ALICE, idempotency_key="k"))
    await stored.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    job, replayed = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")

    assert replayed
    assert [j.id for j in await all_jobs(h)] == [job.id]


async def test_a_holder_that_died_after_creating_its_job_is_replayed(
    harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stopped between creating the job and completing the key: once
    its lock lapses, a retry finds the job and replays it."""
    monkeypatch.setattr("inferql.jobs.idempotency.CLAIM_LOCK_S", 0.05)
    h = harness(start=False)

    async def frozen(*args: object, **kwargs: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(h.backend.idempotency, "complete", frozen)
    dead = asyncio.create_task(h.service.submit_once(["a"], caller=ALICE, idempotency_key="k"))
    await asyncio.sleep(0.02)
    with pytest.raises(IdempotencyKeyInUseError):
        await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
    await asyncio.sleep(0.1)
    monkeypatch.undo()
    try:
        job, replayed = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")
        again, replayed_again = await h.service.submit_once(
            ["a"], caller=ALICE, idempotency_key="k"
        )
    finally:
        dead.cancel()

    assert replayed and replayed_again and again.id == job.id
    assert [j.id for j in await all_jobs(h)] == [job.id]


async def test_a_takeover_and_a_late_create_by_the_old_holder_make_one_job(
    harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder stalls before storing its job, past its lock: the retry takes the
    key over and creates the job; when the stalled create lands at last, it is
    the same job, stored, counted and queued once."""
    monkeypatch.setattr("inferql.jobs.idempotency.CLAIM_LOCK_S", 0.05)
    h = harness(start=False)
    real = h.backend.submit
    go_on = asyncio.Event()

    async def stalled(job: Job) -> None:
        monkeypatch.setattr(h.backend, "submit", real)
        await go_on.wait()
        await real(job)

    monkeypatch.setattr(h.backend, "submit", stalled)
    slow = asyncio.create_task(h.service.submit_once(["a"], caller=ALICE, idempotency_key="k"))
    await asyncio.sleep(0.1)
    retried, retried_replayed = await h.service.submit_once(
        ["a"], caller=ALICE, idempotency_key="k"
    )
    go_on.set()
    late, _ = await slow
    replay, replayed = await h.service.submit_once(["a"], caller=ALICE, idempotency_key="k")

    assert not retried_replayed and replayed
    assert late.id == retried.id == replay.id
    assert [j.id for j in await all_jobs(h)] == [late.id]
    assert (await h.backend.jobs.counters())["submitted"] == 1
    assert await h.backend.queue.depth() == 1
