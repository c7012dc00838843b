"""The garbage collector in a long-running process.

A full collection (CPython's oldest generation) walks every object the
collector tracks. After startup that is all of the imported libraries and the
loaded model, none of which will ever be garbage, and walking it takes tens of
milliseconds on the event loop, every few hundred requests: a pause that every
request and subscriber in flight waits through. Once startup is over,
:func:`freeze_startup_objects` moves it all to the permanent generation, so
later collections walk only what requests and jobs create.

It also lets the youngest generation grow to ``YOUNG_THRESHOLD`` objects
before a collection (CPython's default is 700). An operation leaves no
reference cycle behind (``tests/test_heap.py`` checks it), so what a young
collection finds is only what requests in flight still hold: with 64 of them
(~100 tracked objects each), the default collected every few requests, found
nothing, and moved the live objects on to older generations that walked them
again. Cycles that something does leave are still collected, a little later.
"""

from __future__ import annotations

import gc
import logging
import time

logger = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000
# The thresholds before the first freeze (at most one entry), given back by
# unfreeze_objects.
_thresholds_before: list[tuple[int, int, int]] = []


def freeze_startup_objects() -> None:
    """Collect the garbage of startup, then exempt every object left from later
    collections, and collect the young generation less often. Call it once the
    process is ready (its model loaded)."""
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    if not _thresholds_before:
        _thresholds_before.append(gc.get_threshold())
    _, middle, oldest = _thresholds_before[0]
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
    logger.debug(
        "%d objects left out of later garbage collections (%.0f ms)",
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - began),
    )


def unfreeze_objects() -> None:
    """Hand the frozen objects back to the collector, at its earlier thresholds
    (when an app shuts down in a process that goes on, as in tests)."""
    gc.unfreeze()
    if _thresholds_before:
        gc.set_threshold(*_thresholds_before.pop())
