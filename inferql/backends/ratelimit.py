"""The rate-limit store of every backend: the ``limits`` library's sliding-window
counter over one of its async storages (memory in process, Redis to share the
counters between replicas)."""

from __future__ import annotations

from typing import cast

from limits import RateLimitItemPerSecond
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from inferql.backends.stores import RateLimitWindow
from inferql.errors import UnavailableError

_AWAY = "The rate-limit store cannot be reached; retry shortly."


class LimitsRateLimitStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = cast(SlidingWindowCounterSupport, storage)
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, key: str, cost: int, *, limit: int, window_s: int) -> bool:
        try:
            return await self._limiter.hit(RateLimitItemPerSecond(limit, window_s), key, cost=cost)
        except StorageError as error:
            raise UnavailableError(_AWAY) from error

    async def window(self, key: str, *, limit: int, window_s: int) -> RateLimitWindow:
        item = RateLimitItemPerSecond(limit, window_s)
        try:
            counts = await self._storage.get_sliding_window(item.key_for(key), item.get_expiry())
        except StorageError as error:
            raise UnavailableError(_AWAY) from error
        previous, previous_expires, current, current_expires = counts
        return RateLimitWindow(
            previous_count=int(previous),
            previous_expires_in=float(previous_expires),
            current_count=int(current),
            current_expires_in=float(current_expires),
        )
