"""Users' own classifiers, from TOML files: loading, few-shot quality, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inferql.inference.catalog import Catalog
from inferql.inference.classifier import Classifier
from inferql.inference.manifest import ManifestError
from inferql.inference.registry import ModelRegistry

SUPPORT = """
name = "support"
version = "1"
description = "Routes a customer message to the team that handles it."
head = "prototype"
scale = 25

[[labels]]
name = "billing"
examples = [
    "I was charged twice for my subscription.",
    "Can I get a refund for last month's invoice?",
    "My credit card payment was declined.",
    "Why is my bill higher than usual?",
]

[[labels]]
name = "account"
examples = [
    "I forgot my password and cannot log in.",
    "How do I reset my password?",
    "My account is locked after too many attempts.",
    "I want to change the email address on my profile.",
]

[[labels]]
name = "delivery"
examples = [
    "My package has not arrived yet.",
    "The parcel was delivered to the wrong address.",
    "When will my order be shipped?",
    "The tracking number does not show any updates.",
]
"""

UNSEEN = {
    "billing": ["There is an extra fee on my statement I don't recognise.", "Please refund me."],
    "account": ["I can't sign in to my account.", "The login page says my username is wrong."],
    "delivery": ["Where is my order? It's been two weeks.", "The courier left the box outside."],
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_few_shot_classifier_from_a_user_file(tmp_path: Path, registry: ModelRegistry) -> None:
    catalog = Catalog.load(_write(tmp_path / "support.toml", SUPPORT))
    spec = catalog.resolve("support")
    assert (spec.head, spec.scale, spec.source) == ("prototype", 25.0, tmp_path / "support.toml")
    assert {"sentiment", "topic", "support"} <= set(catalog.names())

    classifier = Classifier.build(spec, registry.encoder)
    texts = [text for group in UNSEEN.values() for text in group]
    expected = [label for label, group in UNSEEN.items() for _ in group]
    assert [p.label for p in classifier.predict(texts)] == expected


def test_a_directory_is_searched_recursively(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "support-1.toml", SUPPORT)
    _write(
        tmp_path / "a" / "b" / "support-10.toml", SUPPORT.replace('version = "1"', "version = 10")
    )
    _write(tmp_path / "support-2.toml", SUPPORT.replace('version = "1"', 'version = "2"'))
    (tmp_path / "notes.txt").write_text("not a manifest", encoding="utf-8")
    catalog = Catalog.load(tmp_path)
    assert [s.version for s in catalog.versions("support")] == ["1", "2", "10"]
    assert catalog.latest("support").version == "10"
    assert catalog.resolve("support@2").source == tmp_path / "support-2.toml"


def test_a_user_version_of_a_builtin_becomes_its_latest(tmp_path: Path) -> None:
    text = SUPPORT.replace('name = "support"', 'name = "sentiment"')
    path = _write(tmp_path / "s.toml", text.replace('version = "1"', 'version = "3"'))
    catalog = Catalog.load(path)
    assert [s.version for s in catalog.versions("sentiment")] == ["1", "2", "3"]
    assert catalog.resolve("sentiment").source == path
    assert catalog.resolve("sentiment@1").head == "zero-shot"
    assert catalog.resolve("sentiment@2").head == "linear"


def test_duplicating_a_builtin_version_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.toml", SUPPORT.replace('name = "support"', 'name = "sentiment"'))
    with pytest.raises(ManifestError) as caught:
        Catalog.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert "sentiment@1 is already defined by" in message
    assert "builtin/sentiment/1.toml" in message


def test_duplicates_among_user_files_are_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "one.toml", SUPPORT)
    _write(tmp_path / "two.toml", SUPPORT)
    with pytest.raises(ManifestError, match=r"support@1 is already defined by .*one\.toml"):
        Catalog.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('name = "x"\nversion = "1\n', "not valid TOML"),
        ('name = "x"\nversion = "1"\nhead = "zero-shot"\n', "description: Field required"),
        (SUPPORT.replace('head = "prototype"', 'head = "nearest"'), "head: Input should be"),
        (SUPPORT.replace('head = "prototype"', 'head = "zero-shot"'), "needs `descriptions`"),
        (SUPPORT.replace('name = "account"', 'name = "billing"'), "repeated: billing"),
        (SUPPORT.replace('name = "support"', 'name = "sup@port"'), "name: String should match"),
        (SUPPORT.replace("scale = 25", "scale = -1"), "scale: Input should be greater than 0"),
        (SUPPORT.replace("scale = 25", "scael = 25"), "scael: Extra inputs are not permitted"),
        (SUPPORT.replace("scale = 25", 'encoder = "bert-large"'), "unknown encoder 'bert-large'"),
        (SUPPORT.replace("scale = 25", 'source = "/etc"'), "source: not a manifest key"),
        (SUPPORT.split("[[labels]]")[0], "labels: Field required"),
    ],
    ids=[
        "toml-syntax",
        "missing-fields",
        "unknown-head",
        "head-mismatch",
        "duplicate-label",
        "bad-name",
        "bad-scale",
        "unknown-key",
        "unknown-encoder",
        "source-key",
        "no-labels",
    ],
)
def test_a_malformed_manifest_names_the_file_and_the_problem(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ManifestError) as caught:
        Catalog.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert complaint in message


def test_a_missing_user_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such classifier manifest file or directory"):
        Catalog.load(tmp_path / "nowhere")
