"""Session fixtures: the real registry and all-MiniLM-L6-v2 encoders (ONNX Runtime
and torch), loaded once (a few seconds) and shared by every test that needs the
real model."""

from __future__ import annotations

import pytest

from inferql.inference.encoder import MiniLMEncoder
from inferql.inference.onnx_encoder import OnnxMiniLMEncoder
from inferql.inference.registry import ModelRegistry


@pytest.fixture(scope="session")
def registry(model_registry: ModelRegistry) -> ModelRegistry:
    """The session's one real registry (tests/conftest.py), every built-in loaded."""
    return model_registry


@pytest.fixture(scope="session")
def encoder() -> MiniLMEncoder:
    """The torch encoder (the registry's default runtime is ONNX Runtime)."""
    return MiniLMEncoder.load()


@pytest.fixture(scope="session")
def onnx_encoder(registry: ModelRegistry) -> OnnxMiniLMEncoder:
    """The registry's encoder: ONNX Runtime, exported into the session's cache."""
    encoder = registry.encoder
    assert isinstance(encoder, OnnxMiniLMEncoder)
    return encoder
