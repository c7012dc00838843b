"""Packing the texts of many jobs into model batches. Pure bookkeeping: no I/O,
no clock, so the worker's policy (when to cut a batch) stays in the worker."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from inferql.backends.base import Delivery
from inferql.inference import Prediction
from inferql.jobs.model import Job


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
    """Jobs in the order they were taken; batches of at most ``max_texts`` texts.
    A job larger than a batch is split across consecutive batches."""

    def __init__(self, max_texts: int) -> None:
        self.max_texts = max_texts
        self._items: OrderedDict[str, WorkItem] = OrderedDict()

    def add(self, job: Job, delivery: Delivery) -> None:
        self._items[job.id] = WorkItem(job, delivery)

    @property
    def pending_texts(self) -> int:
        """Texts taken but not yet handed to a batch."""
        return sum(item.unbatched for item in self._items.values())

    def next_batch(self) -> list[Slice]:
        """The next batch: the oldest unbatched texts, up to ``max_texts``."""
        batch: list[Slice] = []
        room = self.max_texts
        for item in self._items.values():
            if room == 0:
                break
            count = min(room, item.unbatched)
            if count:
                batch.append(Slice(item, item.next_index, item.next_index + count))
                item.next_index += count
                room -= count
        return batch

    def remove(self, job_id: str) -> WorkItem | None:
        """Forget a job (finished, failed or canceled); its texts leave every later batch."""
        return self._items.pop(job_id, None)

    def clear(self) -> list[WorkItem]:
        """Forget every job, returning them (to be handed back to the queue)."""
        items = list(self._items.values())
        self._items.clear()
        return items
