"""Idempotent submission: however often a request is retried with the same key,
it creates one job.

A key is scoped to its caller (two callers may use the same key) and to where it
came from: the ``idempotencyKey`` input field of one submission, or the
``Idempotency-Key`` header of a whole HTTP request. The first request to use a
key claims it; while it runs, the same key answers IDEMPOTENCY_KEY_IN_USE; once
it is done, the same key with the same input replays the job it created, and
with another input answers IDEMPOTENCY_KEY_MISMATCH. Keys are kept
``idempotency_retention_s``; a request that failed before creating a job
releases its key, so a corrected retry may use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from inferql.backends.base import IdempotencyStore
from inferql.errors import (
    BadUserInputError,
    IdempotencyKeyInUseError,
    IdempotencyKeyMismatchError,
    NotFoundError,
)
from inferql.jobs.model import Job

MAX_KEY_LENGTH = 255
# How long a claimed key stays in flight at most: longer than any submission
# takes, short enough that a key whose holder died is usable again soon.
CLAIM_LOCK_S = 60.0

INPUT = "input"
HEADER = "header"


def fingerprint(value: object) -> str:
    """A stable digest of a request's input (JSON-able, key order ignored)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str, *, argument: str) -> None:
    """BadUserInputError unless ``key`` is 1-255 printable ASCII characters."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise BadUserInputError(
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            argument=argument,
        )


@dataclass(slots=True)
class Claim:
    """A key this request holds or replays. ``replay_job_id`` is set when the key
    was already done (its job, or None if the first request created no job);
    ``job_id`` records the job this request created under the key, and ``used``
    whether a submission has taken the claim (one submission per claim)."""

    owner: str
    key: str
    replay: bool = False
    replay_job_id: str | None = None
    job_id: str | None = None
    used: bool = False


class Idempotency:
    def __init__(self, store: IdempotencyStore, *, retention_s: float) -> None:
        self._store = store
        self._retention_s = retention_s

    async def begin(self, owner: str, source: str, key: str, print_: str) -> Claim:
        """Claim ``key`` for a request whose input has fingerprint ``print_``.
        Returns a fresh claim, or a replay of a finished one; raises
        IdempotencyKeyMismatchError or IdempotencyKeyInUseError."""
        scoped = f"{source}:{key}"
        record = await self._store.claim(owner, scoped, print_, lock_s=CLAIM_LOCK_S)
        if record is None:
            return Claim(owner=owner, key=scoped)
        if record.fingerprint != print_:
            raise IdempotencyKeyMismatchError(
                "This idempotency key was used with a different request; use a new key "
                "for new work.",
                idempotencyKey=key,
            )
        if not record.done:
            raise IdempotencyKeyInUseError(
                "A request with this idempotency key is still being processed; retry "
                "once it has finished.",
                idempotencyKey=key,
            )
        return Claim(owner=owner, key=scoped, replay=True, replay_job_id=record.job_id)

    async def finish(self, claim: Claim) -> None:
        """Keep a claim that created a job (or succeeded without one); a no-op for
        a replay."""
        if not claim.replay:
            await self._store.complete(
                claim.owner, claim.key, claim.job_id, retention_s=self._retention_s
            )

    async def abandon(self, claim: Claim) -> None:
        """Release a claim whose request failed before it created anything."""
        if not claim.replay:
            await self._store.release(claim.owner, claim.key)

    async def run(
        self,
        owner: str,
        key: str,
        print_: str,
        create: Callable[[], Awaitable[Job]],
        load: Callable[[str], Awaitable[Job | None]],
    ) -> tuple[Job, bool]:
        """The job of ``key``: created by ``create`` the first time, loaded by
        ``load`` on a replay. Returns the job and whether it was a replay."""
        check_key(key, argument="idempotencyKey")
        claim = await self.begin(owner, INPUT, key, print_)
        if claim.replay:
            return await replayed_job(claim, load), True
        try:
            job = await create()
        except BaseException:
            await self.abandon(claim)
            raise
        claim.job_id = job.id
        await self.finish(claim)
        return job, False


async def replayed_job(claim: Claim, load: Callable[[str], Awaitable[Job | None]]) -> Job:
    """The job a replayed claim created; NotFoundError once it is gone."""
    job = None if claim.replay_job_id is None else await load(claim.replay_job_id)
    if job is None:
        raise NotFoundError(
            "The job created with this idempotency key no longer exists.",
            id=claim.replay_job_id,
        )
    return job
