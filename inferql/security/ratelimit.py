"""Rate limits per caller, counted in texts: a request that classifies 10 texts
costs 10. One sliding window per caller (its owner), kept in the backend's
rate-limit store, so every replica of the API shares it with the Redis backend.

Refusals say when to come back (``Retry-After``), and every charged response
carries the IETF draft's ``RateLimit`` and ``RateLimit-Policy`` fields
(draft-ietf-httpapi-ratelimit-headers): ``"texts";q=<limit>;w=<window>`` and
``"texts";r=<remaining>;t=<seconds until the window is empty>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferql.backends.stores import RateLimitStore, RateLimitWindow
from inferql.errors import RateLimitedError
from inferql.security.caller import Caller

POLICY = "texts"


class RateLimitExceededError(RateLimitedError):
    """RATE_LIMITED, with the caller's limit state for the response headers."""

    def __init__(self, message: str, *, state: RateLimitState, retry_after: float) -> None:
        super().__init__(
            message,
            retry_after=retry_after,
            limit=state.limit,
            windowS=state.window_s,
            retryAfter=retry_after,
        )
        self.state = state


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """A caller's limit after a request was charged (or refused)."""

    limit: int
    window_s: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_s}',
        }


class RateLimiter:
    """Charges callers for texts; ``limit`` texts per ``window_s`` seconds each."""

    def __init__(self, store: RateLimitStore, *, limit: int, window_s: int) -> None:
        self._store = store
        self.limit = limit
        self.window_s = window_s

    async def charge(self, caller: Caller, cost: int) -> RateLimitState:
        """Count ``cost`` texts for the caller and return its state; raise
        RateLimitedError (with ``retry_after`` and the state as ``state``) if that
        would pass its limit: RateLimitExceededError, with the state, when waiting
        helps. Nothing is counted for a refused request."""
        key = f"texts:{caller.owner}"
        if cost > self.limit:
            raise RateLimitedError(
                f"This request sends {cost} texts; the rate limit allows at most "
                f"{self.limit} per {self.window_s} s. Send fewer texts per request.",
                retry_after=self.window_s,
                limit=self.limit,
                windowS=self.window_s,
            )
        allowed = await self._store.hit(key, cost, limit=self.limit, window_s=self.window_s)
        window = await self._store.window(key, limit=self.limit, window_s=self.window_s)
        state = self._state(window)
        if not allowed:
            retry_after = max(1, math.ceil(self._wait_for(window, cost)))
            raise RateLimitExceededError(
                f"Rate limit reached: {self.limit} texts per {self.window_s} s. Retry in "
                f"{retry_after} s.",
                state=state,
                retry_after=retry_after,
            )
        return state

    def _state(self, window: RateLimitWindow) -> RateLimitState:
        used = math.floor(self._weighted(window, 0.0))
        return RateLimitState(
            limit=self.limit,
            window_s=self.window_s,
            remaining=max(0, self.limit - used),
            reset_s=math.ceil(self._until_empty(window)),
        )

    def _ends_in(self, window: RateLimitWindow) -> float:
        """Seconds until the current window ends (and becomes the previous one)."""
        return max(0.0, window.current_expires_in - self.window_s)

    def _weighted(self, window: RateLimitWindow, after: float) -> float:
        """The sliding count ``after`` seconds from now, as the store weighs it."""
        ends_in, w = self._ends_in(window), self.window_s
        if after < ends_in:
            return window.previous_count * (ends_in - after) / w + window.current_count
        return window.current_count * max(0.0, ends_in + w - after) / w

    def _wait_for(self, window: RateLimitWindow, cost: int) -> float:
        """Seconds until ``cost`` more texts fit."""
        room = self.limit - cost
        ends_in, w = self._ends_in(window), self.window_s
        if window.current_count <= room:
            if window.previous_count == 0:
                return 0.0
            return max(0.0, ends_in - w * (room - window.current_count) / window.previous_count)
        return ends_in + w * (1 - room / window.current_count)

    def _until_empty(self, window: RateLimitWindow) -> float:
        if window.current_count:
            return self._ends_in(window) + self.window_s
        if window.previous_count:
            return self._ends_in(window)
        return 0.0
