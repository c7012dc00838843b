"""The catalog of built-in classifiers: resolution, ordering, errors, cheapness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inferql.errors import ErrorCode, ModelNotFoundError
from inferql.inference import ModelRef
from inferql.inference.catalog import BUILTIN_DIR, Catalog
from inferql.inference.manifest import ClassifierSpec, version_key


def test_builtins(catalog: Catalog) -> None:
    assert catalog.names() == ["sentiment", "topic"]
    assert [str(spec.ref) for spec in catalog] == ["sentiment@1", "topic@1"]
    assert len(catalog) == 2
    sentiment = catalog.resolve("sentiment")
    assert sentiment.head == "zero-shot"
    assert sentiment.encoder == "all-MiniLM-L6-v2"
    assert sentiment.label_names == ("positive", "negative")
    assert sentiment.scale > 0
    assert sentiment.description


def test_builtin_files_are_named_after_their_name_and_version(catalog: Catalog) -> None:
    for spec in catalog:
        assert spec.source == BUILTIN_DIR / spec.name / f"{spec.version}.toml"


def test_resolve_latest_and_fixed(tmp_path: Path, catalog: Catalog) -> None:
    assert catalog.resolve("sentiment") == catalog.resolve("sentiment@1")
    assert catalog.resolve("topic@1").ref == ModelRef("topic", "1")
    assert catalog.get(ModelRef("topic", "1")) is catalog.latest("topic")

    newer = catalog.latest("sentiment").model_copy(update={"version": "10"})
    older = catalog.latest("sentiment").model_copy(update={"version": "9"})
    bigger = Catalog([*catalog, newer, older])
    assert [s.version for s in bigger.versions("sentiment")] == ["1", "9", "10"]
    assert bigger.resolve("sentiment").version == "10"
    assert bigger.resolve("sentiment@9").version == "9"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("nope", "Unknown model 'nope'. Models: sentiment (versions 1); topic (versions 1)."),
        ("nope@1", "Unknown model 'nope'."),
        (
            "sentiment@7",
            "Unknown model 'sentiment@7': 'sentiment' has no version '7'. Versions: 1.",
        ),
        ("sentiment@", "is not of the form name or name@version"),
        ("", "Unknown model ''."),
    ],
)
def test_unknown_models(catalog: Catalog, model: str, message: str) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        catalog.resolve(model)
    assert message in caught.value.message
    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND
    assert model not in catalog


def test_unknown_name_in_versions_latest_and_get(catalog: Catalog) -> None:
    with pytest.raises(ModelNotFoundError):
        catalog.versions("nope")
    with pytest.raises(ModelNotFoundError):
        catalog.latest("nope")
    with pytest.raises(ModelNotFoundError):
        catalog.get(ModelRef("topic", "2"))
    assert "topic" in catalog
    assert ModelRef("topic", "1") in catalog
    assert ModelRef("topic", "2") not in catalog


def test_version_order() -> None:
    versions = ["10", "beta", "2", "1", "alpha", "2024.1"]
    assert sorted(versions, key=version_key) == ["1", "2", "10", "2024.1", "alpha", "beta"]


def test_specs_are_frozen(catalog: Catalog) -> None:
    spec = catalog.latest("topic")
    assert isinstance(spec, ClassifierSpec)
    with pytest.raises(ValueError, match="frozen"):
        spec.scale = 1.0  # type: ignore[misc]
    assert hash(spec) == hash(catalog.latest("topic"))


def test_catalog_and_registry_imports_load_no_model_library() -> None:
    code = (
        "import sys\n"
        "from inferql.inference.catalog import Catalog\n"
        "from inferql.inference.registry import ModelRegistry\n"
        "ModelRegistry(Catalog.load(None))\n"
        "heavy = {'torch', 'transformers', 'tokenizers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
