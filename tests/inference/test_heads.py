"""The centroid head, on small hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest

from inferql.inference.heads import CentroidHead, FloatArray, softmax


def _unit(*rows: list[float]) -> FloatArray:
    matrix = np.array(rows, dtype=np.float32)
    unit: FloatArray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def test_softmax_rows_sum_to_one_and_keep_order() -> None:
    probabilities = softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], np.float32))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert list(np.argsort(probabilities[0])) == [0, 1, 2]
    assert probabilities[1, 0] == pytest.approx(1.0)


def test_centroids_are_normalised_means() -> None:
    head = CentroidHead.from_groups(
        ["x", "y"], [_unit([1, 0, 0], [0, 0, 1]), _unit([0, 1, 0])], scale=10
    )
    np.testing.assert_allclose(head.centroids[0], _unit([1, 0, 1])[0], atol=1e-6)
    np.testing.assert_allclose(head.similarities(_unit([1, 0, 1])), [[1.0, 0.0]], atol=1e-6)


def test_scale_sharpens_scores() -> None:
    groups = [_unit([1, 0]), _unit([0, 1])]
    text = _unit([0.6, 0.4])
    soft = CentroidHead.from_groups(["a", "b"], groups, scale=1).scores(text)[0]
    sharp = CentroidHead.from_groups(["a", "b"], groups, scale=50).scores(text)[0]
    assert 0.5 < soft[0] < sharp[0] < 1.0
    assert soft.sum() == pytest.approx(1.0) and sharp.sum() == pytest.approx(1.0)


def test_invalid_heads() -> None:
    with pytest.raises(ValueError, match="one centroid row per label"):
        CentroidHead(["a", "b"], _unit([1, 0]), scale=1)
    with pytest.raises(ValueError, match="at least two labels"):
        CentroidHead(["a"], _unit([1, 0]), scale=1)
    with pytest.raises(ValueError, match="scale must be positive"):
        CentroidHead(["a", "b"], _unit([1, 0], [0, 1]), scale=0)
    with pytest.raises(ValueError, match="has no vectors"):
        CentroidHead.from_groups(["a", "b"], [_unit([1, 0]), np.zeros((0, 2), np.float32)], 1)
    head = CentroidHead(["a", "b"], _unit([1, 0], [0, 1]), scale=1)
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        head.scores(_unit([1, 0, 0]))
