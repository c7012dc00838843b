"""The batcher: batches bounded by texts and by padded tokens, long texts kept
apart from many short ones, job order kept, nothing starved."""

from __future__ import annotations

from inferql.backends.base import Delivery
from inferql.inference import ModelRef
from inferql.jobs.batcher import (
    WINDOW_TOKENS,
    Batcher,
    BatchWait,
    Slice,
    estimate_tokens,
    similar_lengths,
)
from inferql.jobs.model import Job

REF = ModelRef("sentiment", "1")
SHORT = "a short text"  # 5 tokens estimated
LONG = "word " * 400  # past the window: 256 tokens


def add(batcher: Batcher, job_id: str, *texts: str) -> None:
    batcher.add(Job(id=job_id, model=REF, texts=texts), Delivery(job_id, job_id))


def padded_tokens(batch: list[Slice]) -> int:
    texts = [text for piece in batch for text in piece.texts]
    return len(texts) * max(estimate_tokens(text) for text in texts)


def drain(batcher: Batcher) -> list[list[Slice]]:
    batches = []
    while batch := batcher.next_batch():
        batches.append(batch)
    return batches


def test_estimates_grow_with_length_and_stop_at_the_window() -> None:
    assert estimate_tokens("") == 2
    assert estimate_tokens(SHORT) < estimate_tokens(SHORT * 4)
    assert estimate_tokens(LONG) == WINDOW_TOKENS


def test_every_batch_stays_within_the_token_budget() -> None:
    batcher = Batcher(max_texts=64, max_tokens=600)
    for i in range(40):
        add(batcher, f"j{i}", *(("x" * (10 * (i % 7) + 1),) * 3))

    batches = drain(batcher)

    assert sum(len(piece.texts) for batch in batches for piece in batch) == 120
    assert all(padded_tokens(batch) <= 600 for batch in batches)
    assert all(sum(len(p.texts) for p in batch) <= 64 for batch in batches)


def test_a_long_text_does_not_pad_many_short_ones() -> None:
    batcher = Batcher(max_texts=32, max_tokens=2 * WINDOW_TOKENS)
    add(batcher, "short-1", *([SHORT] * 10))
    add(batcher, "long", LONG)
    add(batcher, "short-2", *([SHORT] * 10))

    batches = drain(batcher)

    # The 20 short texts travel together; the long one goes alone, not padding them.
    assert [[(p.item.job.id, len(p.texts)) for p in batch] for batch in batches] == [
        [("short-1", 10), ("short-2", 10)],
        [("long", 1)],
    ]


def test_requests_of_different_lengths_are_grouped_by_length() -> None:
    batcher = Batcher(max_texts=32, max_tokens=100_000)  # the budget does not bind
    for i in range(6):
        add(batcher, f"r{i}", SHORT if i % 2 == 0 else LONG)

    batches = drain(batcher)

    assert [[p.item.job.id for p in batch] for batch in batches] == [
        ["r0", "r2", "r4"],
        ["r1", "r3", "r5"],
    ]


def test_similar_lengths() -> None:
    assert similar_lengths(5, 5) and similar_lengths(10, 25) and similar_lengths(200, 256)
    assert not similar_lengths(21, 230) and not similar_lengths(230, 21)


def test_within_one_job_only_the_budget_applies() -> None:
    batcher = Batcher(max_texts=32, max_tokens=100_000)
    add(batcher, "mixed", SHORT, LONG, SHORT, LONG)

    assert [(p.start, p.end) for p in batcher.next_batch()] == [(0, 4)]


def test_the_oldest_text_always_leads_so_a_long_one_is_not_starved() -> None:
    batcher = Batcher(max_texts=32, max_tokens=WINDOW_TOKENS)  # a long text fills it alone
    add(batcher, "long", LONG)
    add(batcher, "short", SHORT)

    first = batcher.next_batch()

    assert [(p.item.job.id, len(p.texts)) for p in first] == [("long", 1)]


def test_a_job_split_by_the_budget_keeps_its_order() -> None:
    batcher = Batcher(max_texts=32, max_tokens=3 * WINDOW_TOKENS)
    add(batcher, "mixed", SHORT, LONG, SHORT, LONG, SHORT)

    batches = drain(batcher)

    ranges = [(p.start, p.end) for batch in batches for p in batch]
    assert ranges == [(0, 3), (3, 5)]  # contiguous, in order, each within budget
    assert all(padded_tokens(batch) <= 3 * WINDOW_TOKENS for batch in batches)


def test_without_a_token_budget_only_the_count_bounds_a_batch() -> None:
    batcher = Batcher(max_texts=4)
    add(batcher, "long", *([LONG] * 6))

    assert [len(b[0].texts) for b in drain(batcher)] == [4, 2]


def test_the_adaptive_wait_follows_the_measured_model_call() -> None:
    wait = BatchWait("adaptive", max_wait_s=0.005, fraction=0.25)
    assert wait.wait_s(busy=True) == 0.0  # nothing measured yet
    wait.observe(0.008)
    assert wait.wait_s(busy=False) == 0.0  # an idle worker never waits
    assert wait.wait_s(busy=True) == 0.002  # a quarter of the call
    for _ in range(50):
        wait.observe(0.100)
    assert wait.call_s is not None and abs(wait.call_s - 0.100) < 1e-3
    assert wait.wait_s(busy=True) == 0.005  # capped by max_wait


def test_the_fixed_wait_is_max_wait() -> None:
    wait = BatchWait("fixed", max_wait_s=0.005)
    wait.observe(0.100)
    assert wait.wait_s(busy=False) == wait.wait_s(busy=True) == 0.005
