"""Trained versions on disk: manifest + weights written, read back, identical."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferql.inference.artifact import (
    dumps_toml,
    head_from_weights,
    load_weights,
    next_version,
    save_weights,
    write_version,
)
from inferql.inference.catalog import Catalog
from inferql.inference.heads import CentroidHead, FloatArray, LinearHead, normalise_rows
from inferql.inference.manifest import ManifestError, parse_manifest

RNG = np.random.default_rng(0)


def _manifest(head: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "demo",
        "version": "3",
        "description": 'A "quoted" description, with ünïcode.',
        "head": head,
        "temperature": 1.5,
        "labels": [{"name": "yes"}, {"name": "no"}, {"name": "maybe"}],
        "build": {
            "data": "demo.tsv",
            "data_sha256": "ab" * 32,
            "rows": 10,
            "used_rows": 9,
            "train_rows": 6,
            "validation_rows": 3,
            "validation_split": 0.3,
            "seed": 1,
            "l2": None,
            "built_at": "2026-01-01T00:00:00+00:00",
        },
        "metrics": {
            "accuracy": 2 / 3,
            "validation_size": 3,
            "per_label": [
                {"label": "yes", "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
            ],
            "baselines": [{"name": "demo@1", "head": "zero-shot", "accuracy": 0.25}],
        },
        **extra,
    }


def test_a_linear_version_round_trips_to_identical_predictions(tmp_path: Path) -> None:
    weight = RNG.normal(size=(3, 8)).astype(np.float32)
    bias = RNG.normal(size=3).astype(np.float32)
    spec = write_version(tmp_path, _manifest("linear"), {"W": weight, "b": bias})
    assert spec.source == tmp_path / "demo" / "3.toml"
    assert spec.weights_path == tmp_path / "demo" / "3.npz"
    assert spec.description == 'A "quoted" description, with ünïcode.'
    assert spec.metrics is not None and spec.metrics.accuracy == pytest.approx(2 / 3, abs=1e-6)
    assert spec.metrics.baselines[0].name == "demo@1"
    assert spec.build is not None and spec.build.l2 is None

    loaded = head_from_weights(parse_manifest(spec.source))
    assert isinstance(loaded, LinearHead)
    vectors = normalise_rows(RNG.normal(size=(5, 8)).astype(np.float32))
    expected = LinearHead(["yes", "no", "maybe"], weight, bias, temperature=1.5).scores(vectors)
    np.testing.assert_array_equal(loaded.scores(vectors), expected)


def test_a_prototype_version_round_trips(tmp_path: Path) -> None:
    centroids = normalise_rows(RNG.normal(size=(3, 8)).astype(np.float32))
    spec = write_version(tmp_path, _manifest("prototype", scale=20.0), {"centroids": centroids})
    loaded = head_from_weights(spec)
    assert isinstance(loaded, CentroidHead)
    vectors = normalise_rows(RNG.normal(size=(4, 8)).astype(np.float32))
    expected = CentroidHead(["yes", "no", "maybe"], centroids, 20.0, 1.5).scores(vectors)
    np.testing.assert_array_equal(loaded.scores(vectors), expected)


def test_a_version_is_never_overwritten(tmp_path: Path) -> None:
    arrays = {"W": np.zeros((3, 4), np.float32), "b": np.zeros(3, np.float32)}
    write_version(tmp_path, _manifest("linear"), arrays)
    with pytest.raises(FileExistsError):
        write_version(tmp_path, _manifest("linear"), arrays)


def test_a_manifest_naming_missing_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(dumps_toml({**_manifest("linear"), "weights": "gone.npz"}))
    with pytest.raises(ManifestError, match="gone.npz"):
        parse_manifest(path)
    path.write_text(dumps_toml(_manifest("linear")))
    with pytest.raises(ManifestError, match="needs `weights`"):
        parse_manifest(path)


def test_weights_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    spec = write_version(
        tmp_path,
        _manifest("linear"),
        {"W": np.zeros((2, 4), np.float32), "b": np.zeros(2, np.float32)},
    )
    with pytest.raises(ValueError, match="3.npz"):
        head_from_weights(spec)


def test_weights_load_without_pickle(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with path.open("wb") as file:
        np.savez(file, W=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read"):
        load_weights(path)
    arrays: dict[str, FloatArray] = {"centroids": np.ones((2, 3), np.float32)}
    save_weights(path, arrays)
    np.testing.assert_array_equal(load_weights(path)["centroids"], arrays["centroids"])


def test_dumps_toml_reads_back() -> None:
    data = _manifest("linear")
    parsed = tomllib.loads(dumps_toml(data))
    del data["build"]["l2"]  # None is left out
    assert parsed["labels"] == data["labels"]
    assert parsed["build"] == data["build"]
    assert parsed["metrics"]["per_label"][0]["f1"] == pytest.approx(2 / 3, abs=1e-6)


def test_next_version_counts_built_ins_and_the_output(tmp_path: Path) -> None:
    catalog = Catalog.load()
    latest = int(catalog.latest("sentiment").version)
    assert next_version("sentiment", list(catalog), tmp_path) == str(latest + 1)
    assert next_version("brand-new", list(catalog), tmp_path) == "1"
    (tmp_path / "brand-new").mkdir()
    (tmp_path / "brand-new" / "4.toml").write_text("")
    assert next_version("brand-new", list(catalog), tmp_path) == "5"


def test_only_a_linear_head_reads_the_middle_layer(tmp_path: Path) -> None:
    centroids = {"centroids": np.eye(3, 4, dtype=np.float32)}
    manifest = {**_manifest("prototype"), "features": "mean+middle"}
    with pytest.raises(ManifestError, match="features = 'mean\\+middle' needs head = 'linear'"):
        write_version(tmp_path, manifest, centroids)
    assert not list((tmp_path / "demo").iterdir())  # nothing invalid is left behind
    spec = write_version(
        tmp_path,
        {**_manifest("linear"), "features": "mean+middle"},
        {"W": np.zeros((3, 8), np.float32), "b": np.zeros(3, np.float32)},
    )
    assert spec.features == "mean+middle"
