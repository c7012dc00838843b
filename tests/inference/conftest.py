"""Session fixtures: the real registry and all-MiniLM-L6-v2 encoder, loaded once
(a few seconds) and shared by every test that needs the real model."""

from __future__ import annotations

import pytest

from inferql.inference.encoder import MiniLMEncoder
from inferql.inference.registry import ModelRegistry


@pytest.fixture(scope="session")
def registry(model_registry: ModelRegistry) -> ModelRegistry:
    """The session's one real registry (tests/conftest.py), every built-in loaded."""
    return model_registry


@pytest.fixture(scope="session")
def encoder(registry: ModelRegistry) -> MiniLMEncoder:
    encoder = registry.encoder
    assert isinstance(encoder, MiniLMEncoder)
    return encoder
