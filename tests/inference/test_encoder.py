"""The real encoder: shape, normalisation, batch independence, truncation."""

from __future__ import annotations

import numpy as np

from inferql.inference.encoder import MiniLMEncoder

SHORT = ["I love this", "Stocks fall as oil prices surge", "x"]
LONGER = [
    "A considerably longer sentence about the weather, the markets and the football "
    "results of the weekend, written to force padding onto the shorter texts.",
    "Another long one: " + "the quick brown fox jumps over the lazy dog " * 8,
]


def test_metadata(encoder: MiniLMEncoder) -> None:
    assert encoder.name == "all-MiniLM-L6-v2"
    assert encoder.dimension == 384
    assert encoder.max_tokens == 256


def test_vectors_are_normalised_float32_384(encoder: MiniLMEncoder) -> None:
    encoded = encoder.encode(SHORT)
    assert encoded.vectors.shape == (3, 384)
    assert encoded.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, atol=1e-5)
    assert encoded.truncated == [False, False, False]


def test_empty_input(encoder: MiniLMEncoder) -> None:
    encoded = encoder.encode([])
    assert encoded.vectors.shape == (0, 384)
    assert encoded.truncated == []


def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(encoder: MiniLMEncoder) -> None:
    batch = encoder.encode([*LONGER[:1], *SHORT, *LONGER[1:]]).vectors
    for i, text in enumerate(SHORT, start=1):
        alone = encoder.encode([text]).vectors[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)


def test_similar_texts_are_closer_than_unrelated_ones(encoder: MiniLMEncoder) -> None:
    vectors = encoder.encode(
        ["A cat sits on the mat", "A kitten is on the rug", "GDP grew 3%"]
    ).vectors
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_long_text_is_flagged_truncated_short_is_not(encoder: MiniLMEncoder) -> None:
    long_text = "word " * 400
    encoded = encoder.encode(["a short text", long_text])
    assert encoded.truncated == [False, True]
    counts = encoder.count_tokens(["a short text", long_text])
    assert counts[0] == 5  # [CLS] a short text [SEP]
    assert counts[1] > encoder.max_tokens
    # Whatever follows the window does not change the embedding.
    cut = encoder.encode([long_text + " completely different ending about rockets"]).vectors
    np.testing.assert_allclose(cut[0], encoded.vectors[1], atol=1e-5)


def test_text_exactly_at_the_window_is_not_truncated(encoder: MiniLMEncoder) -> None:
    text = "word " * (encoder.max_tokens - 2)
    assert encoder.count_tokens([text]) == [encoder.max_tokens]
    assert encoder.encode([text]).truncated == [False]
    assert encoder.encode([text + "word"]).truncated == [True]
