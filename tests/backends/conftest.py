from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferql.backends.base import Backend
from inferql.backends.memory import MemoryBackend
from tests.conftest import SettingsFactory


@pytest.fixture(params=["memory"])
async def backend(
    request: pytest.FixtureRequest, make_settings: SettingsFactory
) -> AsyncIterator[Backend]:
    """Every backend, one after the other: the contract suite runs against each."""
    settings = make_settings(subscriber_buffer=4, cache_max_entries=3)
    built: Backend = MemoryBackend(settings)
    yield built
    await built.close()
