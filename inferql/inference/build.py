"""Build a classifier version from a labeled file: read, split, embed, fit,
calibrate, measure, write. What ``inferql classifier build`` runs.

Both trainable heads are fitted on the same training rows and measured on the
same validation rows, and so is every untrained version of the same name with
the same labels (a zero-shot ``sentiment@1`` beside a linear ``sentiment@2``):
the chosen head's figures go in ``[metrics]``, the others in
``[[metrics.baselines]]``.

Calibration: the temperature is fitted on the validation rows (it changes no
prediction, so accuracy is unaffected). ``ece_after`` is cross-fitted: the
temperature fitted on one half of the validation rows is scored on the other
half and vice versa, so it does not flatter itself.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inferql.inference.artifact import next_version, write_version
from inferql.inference.catalog import Catalog
from inferql.inference.classifier import Classifier
from inferql.inference.dataset import LabeledData, Split, read_labeled, split_rows
from inferql.inference.heads import FloatArray, normalise_rows, softmax
from inferql.inference.manifest import DEFAULT_SCALE, ClassifierSpec, Features, HeadKind
from inferql.inference.training import (
    IntArray,
    LabelMetrics,
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

if TYPE_CHECKING:
    from inferql.inference.encoder import TextEncoder

Progress = Callable[[list[list[int]]], Iterable[list[int]]]


@dataclass(frozen=True, slots=True)
class BuildOptions:
    name: str
    data: Path
    output: Path
    head: HeadKind = "linear"
    validation_split: float = 0.1
    seed: int = 0
    decontaminate: bool = True
    text_column: str = "text"
    label_column: str = "label"
    label_names: dict[str, str] | None = None
    description: str | None = None
    l2: float | None = None
    features: Features = "mean+middle"
    batch_size: int = 64
    command: str = ""


@dataclass(frozen=True, slots=True)
class HeadResult:
    head: HeadKind
    logits: FloatArray
    arrays: dict[str, FloatArray]
    l2: float | None = None


@dataclass(frozen=True, slots=True)
class BuildReport:
    spec: ClassifierSpec
    data: LabeledData
    split: Split
    accuracy: float
    per_label: list[LabelMetrics]
    temperature: float
    ece_before: float
    ece_after: float
    baselines: dict[str, tuple[HeadKind, float]] = field(default_factory=dict)


def embed(
    encoder: TextEncoder,
    texts: Sequence[str],
    batch_size: int,
    progress: Progress | None = None,
    features: Features = "mean",
) -> FloatArray:
    """``features`` of ``texts`` in order (see ``Encoded.features``; the first
    ``encoder.dimension`` columns are always the unit sentence embedding), encoded
    ``batch_size`` at a time, shortest first (less padding). ``progress`` wraps
    the list of batches."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    width = encoder.dimension * (2 if features == "mean+middle" else 1)
    vectors = np.zeros((len(texts), width), dtype=np.float32)
    for batch in progress(batches) if progress else batches:
        vectors[batch] = encoder.encode([texts[i] for i in batch]).features(features)
    return vectors


def _fit_head(
    head: HeadKind,
    x: FloatArray,
    y: IntArray,
    validation: FloatArray,
    n: int,
    options: BuildOptions,
) -> HeadResult:
    if head == "linear":
        l2 = options.l2 if options.l2 is not None else choose_l2(x, y, n, seed=options.seed).l2
        weight, bias = fit_linear(x, y, n, l2=l2)
        return HeadResult(
            head, linear_logits(validation, weight, bias), {"W": weight, "b": bias}, l2
        )
    centroids = normalise_rows(label_centroids(x, y, n))
    logits = (validation @ centroids.T * DEFAULT_SCALE).astype(np.float32)
    return HeadResult(head, logits, {"centroids": centroids})


def cross_fitted_ece(logits: FloatArray, y: IntArray, seed: int) -> float:
    """ECE after temperature scaling, each half scaled by the other half's T."""
    half = stratified_mask(y, 0.5, seed=seed) if len(y) >= 4 else None
    if half is None or half.all() or not half.any():
        return expected_calibration_error(softmax(logits / fit_temperature(logits, y)), y)
    probabilities = np.zeros_like(logits)
    for fit_rows, score_rows in ((half, ~half), (~half, half)):
        temperature = fit_temperature(logits[fit_rows], y[fit_rows])
        probabilities[score_rows] = softmax(logits[score_rows] / np.float32(temperature))
    return expected_calibration_error(probabilities, y)


def _zero_shot_baselines(
    catalog: Catalog, name: str, labels: tuple[str, ...], encoder: TextEncoder, x: FloatArray
) -> dict[str, FloatArray]:
    """Probabilities, in ``labels`` order, of every untrained version of ``name``
    whose labels are the same set."""
    found: dict[str, FloatArray] = {}
    if name not in catalog.names():
        return found
    for spec in catalog.versions(name):
        if spec.weights is not None or set(spec.label_names) != set(labels):
            continue
        head = Classifier.build(spec, encoder).head
        columns = [spec.label_names.index(label) for label in labels]
        found[str(spec.ref)] = head.scores(x)[:, columns]
    return found


def prepare_data(options: BuildOptions) -> tuple[LabeledData, Split]:
    """Read, clean and split ``options.data``: everything that can fail on bad
    data, before the encoder loads. :class:`inferql.inference.dataset.DatasetError`."""
    data = read_labeled(
        options.data,
        text_column=options.text_column,
        label_column=options.label_column,
        label_names=options.label_names,
    )
    split = split_rows(
        data, options.validation_split, seed=options.seed, decontaminate=options.decontaminate
    )
    return data, split


def build_classifier(
    options: BuildOptions,
    catalog: Catalog,
    encoder: TextEncoder,
    progress: Progress | None = None,
    prepared: tuple[LabeledData, Split] | None = None,
) -> BuildReport:
    """Build and write the next version of ``options.name``; see the module
    docstring. ``prepared``: :func:`prepare_data`'s result, if already at hand.
    :class:`inferql.inference.dataset.DatasetError` for bad data."""
    data, split = prepared if prepared is not None else prepare_data(options)
    used = np.concatenate([split.train, split.validation])
    texts = [data.texts[i] for i in used]
    # The linear head reads ``options.features``; centroids (prototype, zero-shot)
    # the sentence embedding, which is always the first ``dimension`` columns.
    features = embed(encoder, texts, options.batch_size, progress, options.features)
    vectors = np.zeros((len(data.texts), features.shape[1]), dtype=np.float32)
    vectors[used] = features
    x, y = vectors[split.train], data.y[split.train]
    xv, yv = vectors[split.validation], data.y[split.validation]
    n = len(data.labels)
    mean = slice(0, encoder.dimension)

    results: dict[HeadKind, HeadResult] = {
        "linear": _fit_head("linear", x, y, xv, n, options),
        "prototype": _fit_head("prototype", x[:, mean], y, xv[:, mean], n, options),
    }
    chosen = results[options.head]
    temperature = fit_temperature(chosen.logits, yv)
    predicted = chosen.logits.argmax(axis=1)
    accuracy = float((predicted == yv).mean())
    per_label = per_label_metrics(yv, predicted, data.labels)
    ece_before = expected_calibration_error(softmax(chosen.logits), yv)
    ece_after = cross_fitted_ece(chosen.logits, yv, options.seed)
    baselines: dict[str, tuple[HeadKind, float]] = {
        f"{h} (this data)": (h, float((r.logits.argmax(axis=1) == yv).mean()))
        for h, r in results.items()
        if h != options.head
    }
    if options.head == "linear" and options.features != "mean":
        alone = _fit_head("linear", x[:, mean], y, xv[:, mean], n, options)
        hits = float((alone.logits.argmax(axis=1) == yv).mean())
        baselines["linear on the sentence embedding alone (this data)"] = ("linear", hits)
    for ref, probabilities in _zero_shot_baselines(
        catalog, options.name, data.labels, encoder, xv[:, mean]
    ).items():
        baselines[ref] = ("zero-shot", float((probabilities.argmax(axis=1) == yv).mean()))

    version = next_version(options.name, list(catalog), options.output)
    manifest: dict[str, Any] = {
        "name": options.name,
        "version": version,
        "description": options.description or f"Built from {options.data.name}.",
        "head": options.head,
        "encoder": encoder.name,
        "temperature": temperature,
        **({"features": options.features} if options.head == "linear" else {}),
        "labels": [{"name": label} for label in data.labels],
        "build": {
            "data": options.data.name,
            "data_sha256": data.sha256,
            "rows": data.rows_read,
            "used_rows": len(data.texts),
            "train_rows": len(split.train),
            "validation_rows": len(split.validation),
            "validation_split": options.validation_split,
            "decontaminated": options.decontaminate,
            "seed": options.seed,
            "l2": chosen.l2,
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": options.command,
        },
        "metrics": {
            "accuracy": accuracy,
            "validation_size": len(yv),
            "ece_before": ece_before,
            "ece_after": ece_after,
            "nll_before": nll(chosen.logits, yv),
            "nll_after": nll(chosen.logits, yv, temperature),
            "per_label": [
                {
                    "label": m.label,
                    "precision": m.precision,
                    "recall": m.recall,
                    "f1": m.f1,
                    "support": m.support,
                }
                for m in per_label
            ],
            "baselines": [
                {"name": name, "head": head, "accuracy": acc}
                for name, (head, acc) in baselines.items()
            ],
        },
    }
    if options.head == "prototype":
        manifest["scale"] = DEFAULT_SCALE
    spec = write_version(options.output, manifest, chosen.arrays)
    return BuildReport(
        spec, data, split, accuracy, per_label, temperature, ece_before, ece_after, baselines
    )
