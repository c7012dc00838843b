from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from inferql.backends import create_backend
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry, minilm_factory
from inferql.jobs.service import JobService
from inferql.jobs.worker import Worker
from inferql.settings import Settings
from tests.redis_server import RedisServer
from tests.support import CountingModels


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session, on a free port. Tests share it and keep
    apart by key prefix (``redis_prefix``); fault tests start their own."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own on the shared redis-server."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load(None)


@pytest.fixture(scope="session")
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own ONNX export cache: the graph is exported once per session
    (seconds), never read from or written to the user's cache."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def model_registry(catalog: Catalog, onnx_cache_dir: Path) -> ModelRegistry:
    """The real model on the default runtime (ONNX Runtime), loaded once for the
    whole session (it takes seconds)."""
    registry = ModelRegistry(catalog, encoder_factory=minilm_factory(cache_dir=onnx_cache_dir))
    registry.warm_up(spec.ref for spec in catalog)
    return registry


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings() -> SettingsFactory:
    """Settings for a test: defaults, ignoring the environment, plus overrides."""

    def make(**overrides: Any) -> Settings:
        return Settings.model_validate(overrides)

    return make


class Harness:
    """A job service over the memory backend with a running worker, for tests of
    the job path below GraphQL."""

    def __init__(self, settings: Settings, catalog: Catalog, models: CountingModels) -> None:
        self.settings = settings
        self.models = models
        self.backend = create_backend(settings)
        self.service = JobService(self.backend, catalog, settings)
        self.worker = Worker(self.backend, models, settings)
        self._task: asyncio.Task[None] | None = None

    def start_worker(self) -> None:
        self._task = asyncio.create_task(self.worker.run())

    async def until_model_called(self, *, calls: int = 1, timeout: float = 5) -> None:
        """Return once the worker has begun ``calls`` model calls."""
        async with asyncio.timeout(timeout):
            while len(self.models.batches) < calls:  # noqa: ASYNC110 - the model runs in a thread
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.worker.stop()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)
        await self.backend.close()


HarnessFactory = Callable[..., Harness]


@pytest.fixture(params=["memory", "redis"])
async def harness(
    request: pytest.FixtureRequest,
    catalog: Catalog,
    make_settings: SettingsFactory,
    redis_prefix: str,
) -> AsyncIterator[HarnessFactory]:
    """``harness(delay=, delays=, fail=, failing=, start=True, **settings)`` builds a
    Harness (the model: :class:`tests.support.CountingModel`) and starts its
    worker; every harness is stopped after the test. Each test runs once on the
    memory backend and once on Redis. The worker makes one model call at a time
    unless the test asks for more (``model_calls``)."""
    built: list[Harness] = []
    backend: dict[str, Any] = {}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        backend = {"redis_url": server.url, "redis_prefix": redis_prefix}

    def make(
        *,
        delay: float = 0.0,
        delays: Mapping[str, float] | None = None,
        fail: bool = False,
        failing: Collection[str] = (),
        start: bool = True,
        **settings: Any,
    ) -> Harness:
        settings.setdefault("model_calls", 1)
        models = CountingModels(delay=delay, delays=delays, fail=fail, failing=failing)
        h = Harness(make_settings(**backend, **settings), catalog, models)
        if start:
            h.start_worker()
        built.append(h)
        return h

    yield make
    for h in built:
        await h.stop()
