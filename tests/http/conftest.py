from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inferql.inference.catalog import Catalog
from inferql.settings import Settings
from tests.support import RunningServer, free_port

ServerFactory = Callable[..., RunningServer]


@pytest.fixture(scope="module")
def serve(catalog: Catalog) -> Iterator[ServerFactory]:
    """``serve(**settings)`` starts a real server without a worker (these tests are
    about the protocol, not inference); every one is stopped after the module."""
    started: list[RunningServer] = []

    def start(**overrides: Any) -> RunningServer:
        settings = Settings.model_validate({"port": free_port(), "run_worker": False, **overrides})
        server = RunningServer(settings, None, catalog).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()
