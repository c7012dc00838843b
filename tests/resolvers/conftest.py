from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import strawberry

from inferql.resolvers.context import Context, Services
from inferql.schema import build_schema
from inferql.security.guard import Guard
from tests.conftest import Harness


@pytest.fixture(scope="session")
def schema() -> strawberry.Schema:
    return build_schema()


ContextFactory = Callable[[Harness], Context]


@pytest.fixture
def context_for() -> ContextFactory:
    """A fresh request context (with its own DataLoader) over a harness."""

    def make(h: Harness) -> Context:
        return Context(
            services=Services(
                settings=h.settings,
                catalog=h.service._catalog,
                jobs=h.service,
                guard=Guard(h.settings, h.backend, h.service.idempotency),
            )
        )

    return make


def data(result: Any) -> Any:
    assert not result.errors, result.errors
    return result.data
