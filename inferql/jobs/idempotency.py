"""Idempotent submission: however often a request is retried with the same key,
it creates one job.

A key is scoped to its caller (two callers may use the same key) and to where it
came from: the ``idempotencyKey`` input field of one submission, or the
``Idempotency-Key`` header of a whole HTTP request. The first request to use a
key claims it; while it runs, the same key answers IDEMPOTENCY_KEY_IN_USE; once
it is done, the same key with the same input replays the job it created, and
with another input answers IDEMPOTENCY_KEY_MISMATCH. Keys are kept
``idempotency_retention_s``.

The job's id is chosen before the key is claimed and kept in the claim, and a
job store creates a job of a given id once. So a request that fails without
knowing whether its job was stored (a lost reply, a cancelled request), or dies
holding its key, never leads to a second job: its claim's lock lapses (at once,
or after ``CLAIM_LOCK_S``) and the next claim settles the key: it replays the
job if the job exists, else takes the key over with the same job id, so a late
create by the old holder and the new one are one job. A request that failed
before creating a job thus leaves its key free for a corrected retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from inferql.backends.stores import IdempotencyRecord, IdempotencyStore
from inferql.errors import (
    BadUserInputError,
    IdempotencyKeyInUseError,
    IdempotencyKeyMismatchError,
    InferqlError,
    NotFoundError,
)
from inferql.jobs.model import Job, new_job_id

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
# How long a claimed key stays locked at most: longer than any submission
# takes, short enough that a key whose holder died is settled again soon.
CLAIM_LOCK_S = 60.0
# Claims in a row that may find a lapsed record settled first by another request.
_ATTEMPTS = 3

INPUT = "input"
HEADER = "header"

FindJob = Callable[[str], Awaitable[Job | None]]


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
    """A key this request holds or replays. A held claim names its ``holder`` and
    the ``job_id`` its submission creates (chosen before the job is); ``created``
    says that submission returned, and ``used`` whether a submission has taken
    the claim (one submission per claim). A replay (``replay``) names the job the
    key is done with in ``replay_job_id`` (None if the first request made none)."""

    owner: str
    key: str
    holder: str = ""
    job_id: str = ""
    replay: bool = False
    replay_job_id: str | None = None
    created: bool = False
    used: bool = False


class Idempotency:
    def __init__(self, store: IdempotencyStore, find_job: FindJob, *, retention_s: float) -> None:
        self._store = store
        self._find_job = find_job
        self._retention_s = retention_s

    async def begin(self, owner: str, source: str, key: str, print_: str) -> Claim:
        """Claim ``key`` for a request whose input has fingerprint ``print_``.
        Returns a held claim, or a replay of a finished one; raises
        IdempotencyKeyMismatchError or IdempotencyKeyInUseError."""
        claim = Claim(
            owner=owner, key=f"{source}:{key}", holder=secrets.token_hex(8), job_id=new_job_id()
        )
        for _ in range(_ATTEMPTS):
            found = await self._store.claim(
                owner,
                claim.key,
                self._record(claim, print_),
                lock_s=CLAIM_LOCK_S,
                retention_s=self._retention_s,
            )
            if found is not None and not found.done and not found.locked:
                found = await self._settle(claim, found, print_)
                if found is not None and not found.done:
                    continue  # another request settled it first: look again
            if found is None:
                return claim
            return _answer(claim, found, key, print_)
        raise _in_use(key)

    async def _settle(
        self, claim: Claim, found: IdempotencyRecord, print_: str
    ) -> IdempotencyRecord | None:
        """Settle a record whose holder gave up or died: if its job exists, the key
        is done with it (the record returned, done); if not, ``claim`` takes the
        key over (None), keeping the job id for the same input, so that a late
        create by the old holder is this claim's job. The record is returned still
        in flight when another request moved first."""
        if found.job_id is not None and await self._find_job(found.job_id) is not None:
            await self._store.complete(
                claim.owner, claim.key, found.holder, found.job_id, retention_s=self._retention_s
            )
            return replace(found, done=True, locked=False)
        if found.fingerprint == print_ and found.job_id is not None:
            claim.job_id = found.job_id
        taken = await self._store.take_over(
            claim.owner,
            claim.key,
            found.holder,
            self._record(claim, print_),
            lock_s=CLAIM_LOCK_S,
            retention_s=self._retention_s,
        )
        return None if taken else found

    def _record(self, claim: Claim, print_: str) -> IdempotencyRecord:
        return IdempotencyRecord(print_, job_id=claim.job_id, holder=claim.holder)

    async def finish(self, claim: Claim) -> None:
        """Keep a claim done: with its job once its submission created it, with none
        when the request made no submission. A no-op for a replay."""
        if not claim.replay:
            job_id = claim.job_id if claim.created else None
            await self._store.complete(
                claim.owner, claim.key, claim.holder, job_id, retention_s=self._retention_s
            )

    async def abandon(self, claim: Claim) -> None:
        """Give up the claim of a request that failed. Whether its job was stored
        is not known here (the failure may have come after it: a lost reply, a
        cancelled request), so the key is not forgotten: its lock lapses at once,
        and the next claim replays the job if it exists or takes the key over.
        Best effort: where the backend cannot be reached, the lock lapses by
        itself after CLAIM_LOCK_S."""
        if claim.replay:
            return
        try:
            await self._store.release(claim.owner, claim.key, claim.holder)
        except InferqlError as error:
            logger.warning("An idempotency key stays locked until it lapses: %s", error)

    async def run(
        self, owner: str, key: str, print_: str, create: Callable[[str], Awaitable[Job]]
    ) -> tuple[Job, bool]:
        """The job of ``key``: created by ``create`` (given the job's id) the first
        time, loaded on a replay. Returns the job and whether it was a replay."""
        check_key(key, argument="idempotencyKey")
        claim = await self.begin(owner, INPUT, key, print_)
        if claim.replay:
            return await self.replayed(claim), True
        try:
            job = await create(claim.job_id)
        except BaseException:  # cancellation too: it goes on once the key is let go
            await self.abandon(claim)
            raise
        claim.created = True
        await self.finish(claim)
        return job, False

    async def replayed(self, claim: Claim) -> Job:
        """The job a replayed claim created; NotFoundError once it is gone."""
        job = None if claim.replay_job_id is None else await self._find_job(claim.replay_job_id)
        if job is None:
            raise NotFoundError(
                "The job created with this idempotency key no longer exists.",
                id=claim.replay_job_id,
            )
        return job


def _answer(claim: Claim, found: IdempotencyRecord, key: str, print_: str) -> Claim:
    """A replay of a done record of the same input; else the error to answer."""
    if found.fingerprint != print_:
        raise IdempotencyKeyMismatchError(
            "This idempotency key was used with a different request; use a new key for new work.",
            idempotencyKey=key,
        )
    if not found.done:
        raise _in_use(key)
    return Claim(owner=claim.owner, key=claim.key, replay=True, replay_job_id=found.job_id)


def _in_use(key: str) -> IdempotencyKeyInUseError:
    return IdempotencyKeyInUseError(
        "A request with this idempotency key is still being processed; retry once it has finished.",
        idempotencyKey=key,
    )
