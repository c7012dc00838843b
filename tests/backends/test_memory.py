"""What only the memory backend promises: its bounds."""

from __future__ import annotations

import asyncio

from inferql.backends.memory import MemoryPersistedQueryStore


async def test_persisted_queries_keep_the_most_recently_used() -> None:
    store = MemoryPersistedQueryStore(ttl=60, max_entries=2, max_bytes=1000)
    await store.put("a", "A")
    await store.put("b", "B")
    assert await store.get("a") == "A"  # now b is the least recently used
    await store.put("c", "C")

    assert [await store.get(k) for k in "abc"] == ["A", None, "C"]


async def test_persisted_queries_expire() -> None:
    store = MemoryPersistedQueryStore(ttl=0.05, max_entries=10, max_bytes=1000)
    await store.put("a", "A")
    await asyncio.sleep(0.1)
    assert await store.get("a") is None
