"""The real encoders, on both runtimes: shape, normalisation, batch independence,
passes by length, truncation; torch's traced graph against eager torch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import torch

from inferql.inference.encoder import Layers, MiniLMEncoder
from inferql.inference.encoding import Encoded, Pooled, Tokenized
from inferql.inference.onnx_encoder import OnnxMiniLMEncoder

AnyEncoder = MiniLMEncoder | OnnxMiniLMEncoder

SHORT = ["I love this", "Stocks fall as oil prices surge", "x"]
LONGER = [
    "A considerably longer sentence about the weather, the markets and the football "
    "results of the weekend, written to force padding onto the shorter texts.",
    "Another long one: " + "the quick brown fox jumps over the lazy dog " * 8,
]


@pytest.fixture(params=["torch", "onnx"])
def any_encoder(
    request: pytest.FixtureRequest, encoder: MiniLMEncoder, onnx_encoder: OnnxMiniLMEncoder
) -> AnyEncoder:
    """Each test runs on both runtimes: they share one contract."""
    return encoder if request.param == "torch" else onnx_encoder


def test_metadata(any_encoder: AnyEncoder) -> None:
    assert any_encoder.name == "all-MiniLM-L6-v2"
    assert any_encoder.dimension == 384
    assert any_encoder.max_tokens == 256


def test_vectors_are_normalised_float32_384(any_encoder: AnyEncoder) -> None:
    encoded = any_encoder.encode(SHORT)
    assert encoded.vectors.shape == (3, 384)
    assert encoded.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, atol=1e-5)
    assert encoded.truncated == [False, False, False]
    assert encoded.middle is not None and encoded.middle.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(encoded.middle, axis=1), 1.0, atol=1e-5)
    features = encoded.features("mean+middle")
    assert features.shape == (3, 768)
    np.testing.assert_array_equal(features[:, 384:], encoded.middle)


def test_empty_input(any_encoder: AnyEncoder) -> None:
    encoded = any_encoder.encode([])
    assert encoded.vectors.shape == (0, 384)
    assert encoded.truncated == []


def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(
    any_encoder: AnyEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(any_encoder, "PASS_TOKENS", 10**9)  # one pass: the short ones padded
    batch = any_encoder.encode([*LONGER[:1], *SHORT, *LONGER[1:]]).features("mean+middle")
    for i, text in enumerate(SHORT, start=1):
        alone = any_encoder.encode([text]).features("mean+middle")[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)


def test_a_batch_runs_in_passes_by_length_and_equals_one_pass(
    any_encoder: AnyEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [LONGER[1], *SHORT, LONGER[0], "word " * 400, "tiny"]
    passes: list[npt.NDArray[np.int64]] = []
    in_passes = any_encoder.in_passes

    def counting(batch: Tokenized, forward: Callable[[Tokenized], Pooled]) -> Encoded:
        def recorded(part: Tokenized) -> Pooled:
            passes.append(part.attention_mask)
            return forward(part)

        return in_passes(batch, recorded)

    monkeypatch.setattr(any_encoder, "in_passes", counting)
    split = any_encoder.encode(texts)
    split_passes = len(passes)
    assert split_passes >= 3  # short, long, truncated: padding them together costs more
    assert sum(len(mask) for mask in passes) == len(texts)
    assert all(mask[:, -1].any() for mask in passes)  # no pass pads past its longest text
    monkeypatch.setattr(any_encoder, "PASS_TOKENS", 10**9)
    whole = any_encoder.encode(texts)
    assert len(passes) == split_passes + 1
    np.testing.assert_allclose(
        split.features("mean+middle"), whole.features("mean+middle"), atol=1e-5
    )
    assert split.truncated == whole.truncated == [False] * 5 + [True, False]


def test_similar_texts_are_closer_than_unrelated_ones(any_encoder: AnyEncoder) -> None:
    vectors = any_encoder.encode(
        ["A cat sits on the mat", "A kitten is on the rug", "GDP grew 3%"]
    ).vectors
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_long_text_is_flagged_truncated_short_is_not(any_encoder: AnyEncoder) -> None:
    long_text = "word " * 400
    encoded = any_encoder.encode(["a short text", long_text])
    assert encoded.truncated == [False, True]
    counts = any_encoder.count_tokens(["a short text", long_text])
    assert counts[0] == 5  # [CLS] a short text [SEP]
    assert counts[1] > any_encoder.max_tokens
    # Whatever follows the window does not change the embedding.
    cut = any_encoder.encode([long_text + " completely different ending about rockets"]).vectors
    np.testing.assert_allclose(cut[0], encoded.vectors[1], atol=1e-5)


def test_text_exactly_at_the_window_is_not_truncated(any_encoder: AnyEncoder) -> None:
    text = "word " * (any_encoder.max_tokens - 2)
    assert any_encoder.count_tokens([text]) == [any_encoder.max_tokens]
    assert any_encoder.encode([text]).truncated == [False]
    assert any_encoder.encode([text + "word"]).truncated == [True]


class _RecordingModel:
    """Calls the real model, noting the torch threads of each call; holds each
    call until ``hold`` is set."""

    def __init__(self, model: Any, log: list[int], hold: threading.Event) -> None:
        self._model, self._log, self._hold = model, log, hold

    def __call__(self, *inputs: Any) -> Any:
        self._log.append(torch.get_num_threads())
        self._hold.wait(10)
        return self._model(*inputs)


def test_a_torch_call_alone_gets_the_lone_threads_and_calls_side_by_side_one_share(
    encoder: MiniLMEncoder,
) -> None:
    log: list[int] = []
    hold = threading.Event()
    recording = MiniLMEncoder(
        encoder._tokenizer,
        cast(Layers, _RecordingModel(encoder._model, log, hold)),
        max_tokens=encoder.max_tokens,
        dimension=encoder.dimension,
        threads=1,
        lone_threads=2,
    )
    before = torch.get_num_threads()
    try:
        hold.set()
        alone = recording.encode(SHORT)
        assert log == [2]

        hold.clear()  # the next call stays in the model until released
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(recording.encode, SHORT)
            while len(log) < 2:
                time.sleep(0.01)
            second = pool.submit(recording.encode, SHORT)  # while the first runs
            while len(log) < 3:
                time.sleep(0.01)
            hold.set()
            results = [first.result(10), second.result(10)]
    finally:
        torch.set_num_threads(before)
    assert log == [2, 2, 1]
    for result in results:  # the thread count does not change the embeddings
        np.testing.assert_allclose(result.vectors, alone.vectors, atol=1e-5)


def test_the_traced_graph_gives_what_eager_torch_gives(encoder: MiniLMEncoder) -> None:
    eager = MiniLMEncoder.load(traced=False)
    window = "word " * 300  # truncated to the window
    batches = [
        ["one text, nothing padded"],
        SHORT,  # padded, one pass
        SHORT + LONGER,  # passes by length
        [window, "x"],  # the whole window beside one token
    ]
    assert not isinstance(eager._model, torch.jit.ScriptModule)
    assert isinstance(encoder._model, torch.jit.ScriptModule)
    for texts in batches:
        traced, reference = encoder.encode(texts), eager.encode(texts)
        np.testing.assert_allclose(traced.vectors, reference.vectors, atol=1e-6)
        assert traced.middle is not None and reference.middle is not None
        np.testing.assert_allclose(traced.middle, reference.middle, atol=1e-6)
        assert traced.truncated == reference.truncated
