"""The garbage collector in a long-running process.

A full collection (CPython's oldest generation) walks every object the
collector tracks. After startup that is all of the imported libraries and the
loaded model, none of which will ever be garbage, and walking it takes tens of
milliseconds on the event loop, every few hundred requests: a pause that every
request and subscriber in flight waits through. Once startup is over,
:func:`freeze_startup_objects` moves it all to the permanent generation, so
later collections walk only what requests and jobs create.
"""

from __future__ import annotations

import gc
import logging
import time

logger = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """Collect the garbage of startup, then exempt every object left from later
    collections. Call it once the process is ready (its model loaded)."""
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    logger.debug(
        "%d objects left out of later garbage collections (%.0f ms)",
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - began),
    )


def unfreeze_objects() -> None:
    """Hand the frozen objects back to the collector (when an app shuts down in a
    process that goes on, as in tests)."""
    gc.unfreeze()
