"""Building a classifier from labeled rows, with the real encoder: it must
classify rows it never saw, and its manifest must say how it was made."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from inferql.inference.build import BuildOptions, build_classifier, embed
from inferql.inference.catalog import Catalog
from inferql.inference.classifier import Classifier
from inferql.inference.encoder import MiniLMEncoder
from inferql.inference.heads import LinearHead
from inferql.inference.manifest import HeadKind

FIXTURES = Path(__file__).parent / "fixtures"
TRAIN = FIXTURES / "sst2-sample-train.tsv"  # 300 SST-2 rows
TEST = FIXTURES / "sst2-sample-test.tsv"  # 200 other SST-2 rows, no sub-phrase of those


def _rows(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def _accuracy(classifier: Classifier, path: Path) -> float:
    texts, labels = _rows(path)
    predicted = [p.label for p in classifier.predict(texts)]
    return float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))


@pytest.mark.parametrize("head", ["linear", "prototype"])
def test_a_built_classifier_labels_unseen_rows(
    tmp_path: Path, encoder: MiniLMEncoder, head: HeadKind
) -> None:
    options = BuildOptions(
        name="sentiment", data=TRAIN, output=tmp_path, head=head, validation_split=0.2, seed=1
    )
    catalog = Catalog.load()
    report = build_classifier(options, catalog, encoder)
    spec = report.spec
    assert spec.name == "sentiment" and spec.head == head
    assert int(spec.version) == int(catalog.latest("sentiment").version) + 1
    assert spec.label_names == ("negative", "positive")

    classifier = Classifier.build(spec, encoder)
    accuracy = _accuracy(classifier, TEST)
    assert accuracy >= 0.75, accuracy

    build, metrics = spec.build, spec.metrics
    assert build is not None and metrics is not None
    assert (build.rows, build.train_rows + build.validation_rows) == (300, 300)
    assert build.validation_rows == metrics.validation_size == 60
    assert len(build.data_sha256) == 64 and build.data == TRAIN.name
    assert metrics.accuracy == pytest.approx(report.accuracy, abs=1e-6)
    assert [m.label for m in metrics.per_label] == ["negative", "positive"]
    assert sum(m.support for m in metrics.per_label) == 60
    names = {b.name for b in metrics.baselines}
    assert "sentiment@1" in names  # the zero-shot version, on the same validation rows
    assert (build.l2 is not None) == (head == "linear")

    predictions = classifier.predict(["a moving , beautifully acted film .", "a dull mess ."])
    for prediction in predictions:
        assert prediction.head == head
        assert sum(s.score for s in prediction.scores) == pytest.approx(1.0, abs=1e-5)


def test_the_recorded_accuracy_is_the_validation_rows_accuracy(
    tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    options = BuildOptions(name="sst-sample", data=TRAIN, output=tmp_path, seed=2)
    report = build_classifier(options, Catalog.load(), encoder)
    head = Classifier.build(report.spec, encoder).head
    assert isinstance(head, LinearHead)
    rows = report.split.validation
    assert report.spec.features == "mean+middle"  # the default
    texts = [report.data.texts[i] for i in rows]
    vectors = embed(encoder, texts, batch_size=16, features=report.spec.features)
    predicted = head.scores(vectors).argmax(axis=1)
    assert report.spec.metrics is not None
    recorded = report.spec.metrics.accuracy
    assert float((predicted == report.data.y[rows]).mean()) == pytest.approx(recorded, abs=1e-6)
    assert report.spec.version == "1"


def test_embed_keeps_the_order_of_the_texts(encoder: MiniLMEncoder) -> None:
    texts = ["a much longer text than the others in this batch", "short", "medium text"]
    batched = embed(encoder, texts, batch_size=2)
    alone = np.stack([encoder.encode([t]).vectors[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
