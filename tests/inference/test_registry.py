"""The registry: lazy, cached, thread-safe loading; one encoder call per batch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from inferql.errors import ModelNotFoundError
from inferql.inference import ModelProvider, ModelRef
from inferql.inference.catalog import Catalog
from inferql.inference.encoder import Encoded, MiniLMEncoder, TextEncoder
from inferql.inference.registry import ModelRegistry

SENTIMENT = ModelRef("sentiment", "1")
TOPIC = ModelRef("topic", "1")


class CountingEncoder:
    """The real encoder, counting its calls."""

    def __init__(self, inner: MiniLMEncoder) -> None:
        self.inner = inner
        self.calls: list[int] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def encode(self, texts: Sequence[str]) -> Encoded:
        with self._lock:
            self.calls.append(len(texts))
        return self.inner.encode(texts)


def test_the_registry_is_a_model_provider(registry: ModelRegistry) -> None:
    provider: ModelProvider = registry
    model = provider.load(SENTIMENT)
    assert model.ref == SENTIMENT
    assert registry.load(SENTIMENT) is model
    assert registry.loaded
    assert registry.loaded_refs == sorted(spec.ref for spec in registry.catalog)
    assert SENTIMENT in registry.loaded_refs


def test_predict_makes_one_encoder_call_per_batch(catalog: Catalog, encoder: MiniLMEncoder) -> None:
    counting = CountingEncoder(encoder)
    registry = ModelRegistry(catalog, encoder_factory=lambda: counting)
    model = registry.load(TOPIC)
    assert counting.calls == [17]  # every label description, in one call
    model.predict([f"headline number {i}" for i in range(40)])
    assert counting.calls == [17, 40]
    model.predict([])
    assert counting.calls == [17, 40]


def test_a_trained_classifier_loads_its_weights_without_an_encoder_call(
    catalog: Catalog, encoder: MiniLMEncoder
) -> None:
    counting = CountingEncoder(encoder)
    registry = ModelRegistry(catalog, encoder_factory=lambda: counting)
    model = registry.load(ModelRef("sentiment", "2"))
    assert counting.calls == []
    predictions = model.predict(["a joy to watch", "a waste of time", "fine"])
    assert counting.calls == [3]
    assert {p.head for p in predictions} == {"linear"}
    assert [p.label for p in predictions[:2]] == ["positive", "negative"]


def test_unknown_refs_fail_before_anything_loads(catalog: Catalog) -> None:
    def never() -> TextEncoder:
        raise AssertionError("the encoder must not load for an unknown model")

    registry = ModelRegistry(catalog, encoder_factory=never)
    with pytest.raises(ModelNotFoundError):
        registry.load(ModelRef("nope", "1"))
    with pytest.raises(ModelNotFoundError):
        registry.load(ModelRef("sentiment", "99"))
    with pytest.raises(ModelNotFoundError):
        registry.warm_up([SENTIMENT, ModelRef("nope", "1")])
    assert not registry.loaded
    assert registry.loaded_refs == []


def test_concurrent_first_loads_build_once(catalog: Catalog, encoder: MiniLMEncoder) -> None:
    made: list[CountingEncoder] = []

    def factory() -> TextEncoder:
        made.append(CountingEncoder(encoder))
        return made[-1]

    registry = ModelRegistry(catalog, encoder_factory=factory)
    assert not registry.loaded
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(registry.load, [SENTIMENT, TOPIC] * 8))
    assert len(made) == 1
    assert len({id(m) for m in models}) == 2
    assert sorted(made[0].calls) == [17, 26]  # each classifier's labels embedded once


def test_warm_up(catalog: Catalog, encoder: MiniLMEncoder) -> None:
    registry = ModelRegistry(catalog, encoder_factory=lambda: encoder)
    registry.warm_up()
    assert registry.loaded
    assert registry.loaded_refs == []
    registry.warm_up([TOPIC])
    assert registry.loaded_refs == [TOPIC]


def test_a_classifier_for_another_encoder_is_refused(
    catalog: Catalog, encoder: MiniLMEncoder
) -> None:
    class Renamed(CountingEncoder):
        @property
        def name(self) -> str:
            return "other-encoder"

    registry = ModelRegistry(catalog, encoder_factory=lambda: Renamed(encoder))
    with pytest.raises(ValueError, match="needs encoder 'all-MiniLM-L6-v2'"):
        registry.load(SENTIMENT)
