"""The event-path cases: the job path (d), fan-out to subscribers (e), and the
redis backend (g)."""

from __future__ import annotations

CASES = ("jobs", "fanout", "redis")
