"""Fitting and measuring heads, on synthetic numpy data (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from inferql.inference.heads import FloatArray, LinearHead, normalise_rows, softmax
from inferql.inference.training import (
    IntArray,
    choose_l2,
    expected_calibration_error,
    fit_linear,
    fit_temperature,
    label_centroids,
    linear_logits,
    nll,
    per_label_metrics,
    stratified_mask,
)


def _blobs(
    n: int, labels: int, *, spread: float, seed: int, d: int = 16
) -> tuple[FloatArray, IntArray]:
    """Unit vectors scattered around one random direction per label."""
    rng = np.random.default_rng(seed)
    centres = normalise_rows(rng.normal(size=(labels, d)).astype(np.float32))
    y = rng.integers(0, labels, size=n).astype(np.int64)
    x = centres[y] + spread * rng.normal(size=(n, d)).astype(np.float32)
    return normalise_rows(x.astype(np.float32)), y


def test_a_linear_head_separates_separable_data() -> None:
    x, y = _blobs(600, 3, spread=0.1, seed=1)
    weight, bias = fit_linear(x[:400], y[:400], 3, l2=1e-4)
    assert weight.shape == (3, 16) and bias.shape == (3,)
    predicted = linear_logits(x[400:], weight, bias).argmax(axis=1)
    assert (predicted == y[400:]).mean() >= 0.98


def test_the_penalty_shrinks_the_weights() -> None:
    x, y = _blobs(300, 2, spread=0.3, seed=2)
    weak, _ = fit_linear(x, y, 2, l2=1e-5)
    strong, _ = fit_linear(x, y, 2, l2=1.0)
    assert np.linalg.norm(strong) < np.linalg.norm(weak) / 3


def test_choose_l2_picks_the_lowest_cross_validated_nll() -> None:
    x, y = _blobs(400, 4, spread=0.6, seed=3)
    choice = choose_l2(x, y, 4, seed=0, grid=(1e-4, 1e-2, 10.0))
    assert set(choice.inner_nll) == set(choice.inner_accuracy) == {1e-4, 1e-2, 10.0}
    assert choice.inner_nll[choice.l2] == min(choice.inner_nll.values())
    assert choice.l2 != 10.0  # a penalty that flattens every logit is never best here
    single = choose_l2(x, y, 4, seed=0, grid=(1e-4, 1e-2, 10.0), folds=1)
    assert single.l2 != 10.0


def test_temperature_scaling_lowers_the_nll_of_overconfident_logits() -> None:
    x, y = _blobs(2000, 3, spread=0.9, seed=4)
    weight, bias = fit_linear(x[:1000], y[:1000], 3, l2=1e-4)
    logits = linear_logits(x[1000:], weight, bias) * 8  # overconfident on purpose
    temperature = fit_temperature(logits, y[1000:])
    assert temperature > 2
    assert nll(logits, y[1000:], temperature) < nll(logits, y[1000:]) - 0.05
    before = expected_calibration_error(softmax(logits), y[1000:])
    after = expected_calibration_error(softmax(logits / np.float32(temperature)), y[1000:])
    assert after < before
    # a temperature never changes which label wins
    assert (softmax(logits / temperature).argmax(1) == logits.argmax(1)).all()


def test_a_linear_head_scores_sum_to_one() -> None:
    x, y = _blobs(200, 5, spread=0.5, seed=5)
    weight, bias = fit_linear(x, y, 5, l2=1e-3)
    head = LinearHead(list("abcde"), weight, bias, temperature=1.7)
    scores = head.scores(x)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert (scores.argmax(axis=1) == linear_logits(x, weight, bias).argmax(axis=1)).all()
    with pytest.raises(ValueError, match="shape"):
        head.scores(x[:, :4])


def test_ece_of_a_perfectly_calibrated_and_a_wrong_predictor() -> None:
    y = np.array([0, 1, 0, 1], dtype=np.int64)
    certain = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    assert expected_calibration_error(certain, y) == pytest.approx(0.0)
    assert expected_calibration_error(certain[::-1].copy(), y) == pytest.approx(1.0)


def test_per_label_metrics() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2], dtype=np.int64)
    y_pred = np.array([0, 0, 1, 1, 1, 1], dtype=np.int64)
    a, b, c = per_label_metrics(y_true, y_pred, ["a", "b", "c"])
    assert (a.precision, a.support) == (1.0, 3)
    assert a.recall == pytest.approx(2 / 3)
    assert (b.precision, b.recall) == (0.5, 1.0)
    assert b.f1 == pytest.approx(2 / 3)
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 1)


def test_stratified_mask_takes_each_labels_share_and_is_seeded() -> None:
    y = np.array([0] * 50 + [1] * 10 + [2] * 2, dtype=np.int64)
    mask = stratified_mask(y, 0.2, seed=9)
    assert [int(mask[y == k].sum()) for k in range(3)] == [10, 2, 1]
    assert (mask == stratified_mask(y, 0.2, seed=9)).all()
    assert not (mask == stratified_mask(y, 0.2, seed=10)).all()


def test_label_centroids_are_means() -> None:
    x = np.array([[1, 0], [3, 0], [0, 2]], dtype=np.float32)
    y = np.array([0, 0, 1], dtype=np.int64)
    np.testing.assert_allclose(label_centroids(x, y, 2), [[2, 0], [0, 2]])


def test_a_row_weighted_twice_counts_as_two_rows() -> None:
    x, y = _blobs(60, 2, spread=0.8, seed=6)
    weights = np.ones(60)
    weights[0] = 2.0
    weighted = fit_linear(x, y, 2, l2=1e-3, sample_weight=weights)
    duplicated = fit_linear(np.vstack([x, x[:1]]), np.append(y, y[0]), 2, l2=1e-3)
    unweighted = fit_linear(x, y, 2, l2=1e-3)
    np.testing.assert_allclose(weighted[0], duplicated[0], atol=1e-4)
    assert not np.allclose(weighted[0], unweighted[0], atol=1e-4)
