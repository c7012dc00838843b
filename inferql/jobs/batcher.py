"""Packing the texts of many jobs into model batches. Pure bookkeeping: no I/O,
no clock, so the worker's policy (when to cut a batch) stays in the worker.

A batch is bounded by a text count and by a token budget, counted as the model
pays for it: padded tokens, ``texts x longest`` (every text of a batch is padded
to its longest). The batcher has no tokenizer, so a text's tokens are estimated
from its length (:func:`estimate_tokens`); the bound is approximate by design.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from inferql.backends.base import Delivery
from inferql.inference import Prediction
from inferql.jobs.model import Job

# The default encoder's window: longer texts are truncated to it, so they cost no
# more than this many tokens each.
WINDOW_TOKENS = 256
# English WordPiece averages about four characters per token.
_CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """The tokens ``text`` is likely to cost the model, ``[CLS]``/``[SEP]`` included,
    at most the window."""
    return min(WINDOW_TOKENS, 2 + math.ceil(len(text) / _CHARS_PER_TOKEN))


# Two lengths are alike when padding the shorter to the longer at most doubles
# it, give or take a few tokens (short texts vary a lot, relatively, for little).
_LENGTH_SLACK = 16


def similar_lengths(a: int, b: int) -> bool:
    """Whether texts of ``a`` and ``b`` tokens should share a batch."""
    low, high = sorted((a, b))
    return high <= 2 * low + _LENGTH_SLACK


@dataclass(slots=True)
class WorkItem:
    """A job a worker has taken: the texts it has classified so far."""

    job: Job
    delivery: Delivery
    predictions: list[Prediction] = field(default_factory=list)
    next_index: int = 0  # first text not yet handed to a batch

    @property
    def done(self) -> int:
        return len(self.predictions)

    @property
    def unbatched(self) -> int:
        return self.job.total - self.next_index


@dataclass(frozen=True, slots=True)
class Slice:
    """Texts ``start:end`` of one job, inside one batch."""

    item: WorkItem
    start: int
    end: int

    @property
    def texts(self) -> tuple[str, ...]:
        return self.item.job.texts[self.start : self.end]


class Batcher:
    """Jobs in the order they were taken; batches of at most ``max_texts`` texts and
    ``max_tokens`` padded tokens. A job larger than a batch is split across
    consecutive batches, in order."""

    def __init__(self, max_texts: int, max_tokens: int | None = None) -> None:
        self.max_texts = max_texts
        self.max_tokens = max_tokens if max_tokens is not None else max_texts * WINDOW_TOKENS
        self._items: OrderedDict[str, WorkItem] = OrderedDict()

    def add(self, job: Job, delivery: Delivery) -> None:
        self._items[job.id] = WorkItem(job, delivery)

    @property
    def pending_texts(self) -> int:
        """Texts taken but not yet handed to a batch."""
        return sum(item.unbatched for item in self._items.values())

    def next_batch(self) -> list[Slice]:
        """The next batch. It starts with the oldest unbatched text (whatever its
        length: nothing starves), then takes texts in the order they came while
        the batch stays within ``max_texts`` and, padded to its longest text,
        within ``max_tokens``.

        Texts of similar lengths travel together: a later job joins only if its
        next text is of a length like the batch's first (:func:`similar_lengths`);
        the others wait for a batch that one of their kind leads. So a long text
        does not pad many short ones, nor short ones a batch of long ones. Within
        one job only the budget applies: a job's texts go in order, and a text
        that would break the budget stays for a later batch with the rest of
        its job."""
        batch: list[Slice] = []
        count = longest = 0
        lead: int | None = None
        for item in self._items.values():
            if count == self.max_texts:
                break
            end = item.next_index
            texts = item.job.texts
            if end < item.job.total:
                first = estimate_tokens(texts[end])
                if lead is None:
                    lead = first
                elif not similar_lengths(lead, first):
                    continue
            while end < item.job.total and count < self.max_texts:
                tokens = estimate_tokens(texts[end])
                if count and (count + 1) * max(longest, tokens) > self.max_tokens:
                    break
                longest = max(longest, tokens)
                count += 1
                end += 1
            if end > item.next_index:
                batch.append(Slice(item, item.next_index, end))
                item.next_index = end
        return batch

    def remove(self, job_id: str) -> WorkItem | None:
        """Forget a job (finished, failed or canceled); its texts leave every later batch."""
        return self._items.pop(job_id, None)

    def clear(self) -> list[WorkItem]:
        """Forget every job, returning them (to be handed back to the queue)."""
        items = list(self._items.values())
        self._items.clear()
        return items


# The EWMA of model call times weighs the newest call by this.
_EWMA_WEIGHT = 0.2


class BatchWait:
    """How long a worker lets a batch fill before the model call.

    ``fixed``: always ``max_wait_s``. ``adaptive``: nothing when the work came to
    an idle worker (``busy`` False: a lone request goes straight to the model);
    when it queued while the model was busy, ``fraction`` of the measured call
    time (an EWMA of :meth:`observe`), at most ``max_wait_s``: the model idles
    while a batch waits, so the wait stays a small share of a call."""

    def __init__(
        self, mode: Literal["adaptive", "fixed"], max_wait_s: float, fraction: float = 0.1
    ) -> None:
        self.mode = mode
        self.max_wait_s = max_wait_s
        self.fraction = fraction
        self.call_s: float | None = None

    def observe(self, call_s: float) -> None:
        """One model call took ``call_s`` seconds."""
        previous = self.call_s
        self.call_s = call_s if previous is None else previous + _EWMA_WEIGHT * (call_s - previous)

    def wait_s(self, busy: bool) -> float:
        if self.mode == "fixed":
            return self.max_wait_s
        if not busy or self.call_s is None:
            return 0.0
        return min(self.max_wait_s, self.fraction * self.call_s)
