"""Heads: turn L2-normalised text embeddings into per-label scores. numpy only.

Both kinds of classifier reduce to one :class:`CentroidHead`: every label has a
unit-length centroid, a text's similarity to a label is the cosine between its
embedding and the centroid, and its scores are
``softmax(scale * similarities)``, so they are positive and sum to 1.

* zero-shot: the centroid is the normalised mean of the embeddings of the label's
  descriptions. The mean classified the built-in test
  sets better than the max over descriptions: it cancels what the descriptions
  of different labels share (topic, wording) and keeps what separates them.
* prototype (few-shot): the centroid is the normalised mean of the embeddings of
  the label's examples (written in the manifest, or computed by
  ``inferql classifier build`` and saved in its weights file).

A trained classifier uses :class:`LinearHead` instead: multinomial logistic
regression, ``softmax((x @ W.T + b) / T)``.

Every head divides its logits by a calibration temperature ``T`` (1 unless the
manifest, from a build, says otherwise) before the softmax.

``scale`` is an inverse temperature: cosine gaps between labels are typically
0.05-0.2 for this encoder, and the default 30 turns a 0.1 gap into ~95% for the
better of two labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def normalise_rows(matrix: FloatArray) -> FloatArray:
    """Each row scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: FloatArray = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return result


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)
    return result


class Head(Protocol):
    """Turns unit-length embeddings into per-label probabilities."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def logits(self, vectors: FloatArray) -> FloatArray:
        """``[n, labels]`` scores before the temperature and the softmax."""
        ...

    def scores(self, vectors: FloatArray) -> FloatArray:
        """``[n, labels]`` probabilities, each row summing to 1."""
        ...


def _check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return float(temperature)


class CentroidHead:
    """Cosine similarity to one unit centroid per label, softmax at ``scale``
    (divided by ``temperature``)."""

    def __init__(
        self,
        labels: Sequence[str],
        centroids: FloatArray,
        scale: float,
        temperature: float = 1.0,
    ) -> None:
        if centroids.ndim != 2 or centroids.shape[0] != len(labels):
            raise ValueError(
                f"need one centroid row per label: {len(labels)} labels, shape {centroids.shape}"
            )
        if len(labels) < 2:
            raise ValueError("a head needs at least two labels")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self._labels = tuple(labels)
        self._centroids = normalise_rows(centroids.astype(np.float32, copy=False))
        self._scale = float(scale)
        self._temperature = _check_temperature(temperature)

    @classmethod
    def from_groups(
        cls, labels: Sequence[str], groups: Sequence[FloatArray], scale: float
    ) -> CentroidHead:
        """``groups[i]``: the ``[m_i, d]`` embeddings of label ``i``'s texts
        (``m_i >= 1``); its centroid is their normalised mean."""
        if len(groups) != len(labels):
            raise ValueError(f"{len(labels)} labels but {len(groups)} groups of vectors")
        for label, group in zip(labels, groups, strict=True):
            if group.ndim != 2 or group.shape[0] == 0:
                raise ValueError(f"label {label!r} has no vectors")
        means = np.stack([group.mean(axis=0) for group in groups]).astype(np.float32)
        return cls(labels, means, scale)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def centroids(self) -> FloatArray:
        """``[labels, d]``, unit rows. A copy."""
        return self._centroids.copy()

    def similarities(self, vectors: FloatArray) -> FloatArray:
        """``[n, labels]`` cosines; ``vectors`` must already be unit rows."""
        if vectors.ndim != 2 or vectors.shape[1] != self._centroids.shape[1]:
            raise ValueError(
                f"expected vectors of shape [n, {self._centroids.shape[1]}], got {vectors.shape}"
            )
        return (vectors.astype(np.float32, copy=False) @ self._centroids.T).astype(np.float32)

    def logits(self, vectors: FloatArray) -> FloatArray:
        """``scale * similarities``."""
        return self.similarities(vectors) * np.float32(self._scale)

    def scores(self, vectors: FloatArray) -> FloatArray:
        """``[n, labels]`` probabilities, each row summing to 1."""
        return softmax(self.logits(vectors) / np.float32(self._temperature))


class LinearHead:
    """Multinomial logistic regression: ``softmax((x @ W.T + b) / temperature)``.
    ``weight`` is ``[labels, d]``, ``bias`` ``[labels]``."""

    def __init__(
        self,
        labels: Sequence[str],
        weight: FloatArray,
        bias: FloatArray,
        temperature: float = 1.0,
    ) -> None:
        if len(labels) < 2:
            raise ValueError("a head needs at least two labels")
        if weight.ndim != 2 or weight.shape[0] != len(labels) or bias.shape != (len(labels),):
            raise ValueError(
                f"need W [{len(labels)}, d] and b [{len(labels)}]; "
                f"got {weight.shape} and {bias.shape}"
            )
        self._labels = tuple(labels)
        self._weight = weight.astype(np.float32)
        self._bias = bias.astype(np.float32)
        self._temperature = _check_temperature(temperature)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def weight(self) -> FloatArray:
        return self._weight.copy()

    @property
    def bias(self) -> FloatArray:
        return self._bias.copy()

    def logits(self, vectors: FloatArray) -> FloatArray:
        if vectors.ndim != 2 or vectors.shape[1] != self._weight.shape[1]:
            raise ValueError(
                f"expected vectors of shape [n, {self._weight.shape[1]}], got {vectors.shape}"
            )
        result: FloatArray = (
            vectors.astype(np.float32, copy=False) @ self._weight.T + self._bias
        ).astype(np.float32)
        return result

    def scores(self, vectors: FloatArray) -> FloatArray:
        return softmax(self.logits(vectors) / np.float32(self._temperature))
