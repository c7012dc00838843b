"""Where jobs, the work queue, events and the inference cache live.

``memory`` is the embedded default (one process, no services); ``redis`` scales
out. Both implement the protocols of ``base`` and pass one contract suite.
"""

from __future__ import annotations

from inferql.backends.base import Backend, Delivery, EventStream
from inferql.settings import Settings


def create_backend(settings: Settings) -> Backend:
    """Redis when the settings name one, else the embedded memory backend."""
    if settings.redis_url is not None:
        from inferql.backends.redis import RedisBackend

        return RedisBackend(settings)
    from inferql.backends.memory import MemoryBackend

    return MemoryBackend(settings)


__all__ = ["Backend", "Delivery", "EventStream", "create_backend"]
