"""A classifier: one :class:`ClassifierSpec` bound to an encoder and a head.

Implements the :class:`inferql.inference.types.Model` protocol. Building one
embeds the label texts once (one encoder call), or, for a trained version,
reads its weights file; :meth:`Classifier.predict` makes
exactly one encoder call per batch, whatever its size. Imports no torch itself:
the encoder is whatever the registry hands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from inferql.inference.artifact import head_from_weights
from inferql.inference.heads import CentroidHead, Head
from inferql.inference.types import LabelScore, ModelRef, Prediction

if TYPE_CHECKING:
    from inferql.inference.encoder import TextEncoder
    from inferql.inference.manifest import ClassifierSpec


class Classifier:
    """Classifies texts into ``spec``'s labels. Thread-safe if the encoder is
    (the head is read-only after construction)."""

    def __init__(self, spec: ClassifierSpec, encoder: TextEncoder, head: Head) -> None:
        if head.labels != spec.label_names:
            raise ValueError(f"head labels {head.labels} do not match {spec.ref}'s labels")
        self._spec = spec
        self._ref = spec.ref
        self._encoder = encoder
        self._head = head

    @classmethod
    def build(cls, spec: ClassifierSpec, encoder: TextEncoder) -> Classifier:
        """Embed ``spec``'s label descriptions (zero-shot) or examples (prototype)
        in one encoder call and build the head, or load a trained head from
        ``spec``'s weights file. ``ValueError`` if ``spec`` names an encoder other
        than ``encoder``, or its weights do not fit it."""
        if spec.encoder != encoder.name:
            raise ValueError(
                f"{spec.ref} ({spec.source}) needs encoder {spec.encoder!r}, "
                f"but the registry's encoder is {encoder.name!r}"
            )
        if spec.weights is not None:
            return cls(spec, encoder, head_from_weights(spec))
        groups = [
            label.descriptions if spec.head == "zero-shot" else label.examples
            for label in spec.labels
        ]
        flat = [text for group in groups for text in group]
        vectors = encoder.encode(flat).vectors
        bounds = np.cumsum([0, *(len(group) for group in groups)])
        per_label = [vectors[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]
        # Both heads score by similarity to each label's normalised mean embedding;
        # they differ only in which texts (descriptions or examples) make the mean.
        head = CentroidHead.from_groups(spec.label_names, per_label, spec.scale)
        if spec.temperature != 1.0:
            head = CentroidHead(spec.label_names, head.centroids, spec.scale, spec.temperature)
        return cls(spec, encoder, head)

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    @property
    def labels(self) -> tuple[str, ...]:
        return self._head.labels

    @property
    def head(self) -> Head:
        return self._head

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in order: ``scores`` has every label, best
        first (ties keep the manifest's label order), and sums to 1; ``label`` and
        ``score`` repeat the best. ``truncated`` is the encoder's flag. An empty
        input returns ``[]`` without calling the encoder."""
        if not texts:
            return []
        encoded = self._encoder.encode(texts)
        probabilities = self._head.scores(encoded.features(self._spec.features))
        labels = self._head.labels
        predictions = []
        for row, truncated in zip(probabilities, encoded.truncated, strict=True):
            order = np.argsort(-row, kind="stable")
            scores = tuple(LabelScore(labels[i], float(row[i])) for i in order)
            best = scores[0]
            predictions.append(
                Prediction(
                    label=best.label,
                    score=best.score,
                    scores=scores,
                    model=self._ref,
                    head=self._spec.head,
                    truncated=truncated,
                )
            )
        return predictions
