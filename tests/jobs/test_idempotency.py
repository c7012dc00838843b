"""Idempotent submission over the memory backend: one job per (caller, key)."""

from __future__ import annotations

import asyncio

import pytest

from inferql.errors import (
    BadUserInputError,
    IdempotencyKeyInUseError,
    IdempotencyKeyMismatchError,
)
from inferql.jobs.model import Job
from inferql.security.caller import Caller
from tests.conftest import HarnessFactory

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

    async def slow_create() -> Job:
        await release.wait()
        return await h.service.submit(["slow"], caller=ALICE)

    first = asyncio.create_task(
        idempotency.run("alice", "k", "print", slow_create, h.backend.jobs.get)
    )
    await asyncio.sleep(0.05)
    with pytest.raises(IdempotencyKeyInUseError):
        await idempotency.run("alice", "k", "print", slow_create, h.backend.jobs.get)
    release.set()
    job, replayed = await first
    again, again_replayed = await idempotency.run(
        "alice", "k", "print", slow_create, h.backend.jobs.get
    )

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
