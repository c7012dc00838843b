"""Reading, cleaning and splitting labeled files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferql.inference.dataset import DatasetError, read_labeled, split_rows


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _rows(n: int, label: str, sep: str = "\t") -> str:
    return "".join(f"{label} example number {i}{sep}{label}\n" for i in range(n))


def test_reads_tsv_and_csv_with_quoted_multiline_fields(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "a.tsv", "text\tlabel\n" + _rows(5, "yes") + _rows(5, "no"))
    more = "".join(f"{label},{label} number {i}\n" for label in ("yes", "no") for i in range(4))
    csv = _write(
        tmp_path / "a.csv", 'label,text\nyes,"one, with a comma"\nno,"two\nlines"\n' + more
    )
    data = read_labeled(tsv)
    assert data.labels == ("no", "yes")
    assert len(data.texts) == 10 and data.rows_read == 10
    assert len(data.sha256) == 64
    from_csv = read_labeled(csv)
    assert "one, with a comma" in from_csv.texts and "two\nlines" in from_csv.texts
    assert from_csv.rows_read == 10


def test_sniffs_other_extensions_and_renames_labels(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.txt", "text\tlabel\n" + _rows(6, "1") + _rows(6, "0"))
    data = read_labeled(path, label_names={"1": "positive", "0": "negative"})
    assert data.labels == ("positive", "negative")
    assert data.y.tolist() == [0] * 6 + [1] * 6
    with pytest.raises(DatasetError, match="not renamed"):
        read_labeled(path, label_names={"1": "positive"})


def test_duplicates_collapse_and_conflicts_are_dropped(tmp_path: Path) -> None:
    body = _rows(5, "a") + _rows(5, "b") + "same\ta\nsame\ta\nclash\ta\nclash\tb\n  \ta\n"
    data = read_labeled(_write(tmp_path / "d.tsv", "text\tlabel\n" + body))
    assert "same" in data.texts and "clash" not in data.texts
    assert data.texts.count("same") == 1
    assert data.rows_read == 15 and len(data.texts) == 11


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("words\tlabel\nhi\ta\n", "no column 'text'"),
        ("text\tlabel\n" + _rows(9, "only"), "at least two labels"),
        ("text\tlabel\n" + _rows(9, "a") + _rows(2, "b"), "'b' \\(2\\)"),
    ],
    ids=["missing-column", "one-label", "rare-label"],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_labeled(_write(tmp_path / "bad.tsv", content))
    with pytest.raises(DatasetError, match="cannot read"):
        read_labeled(tmp_path / "missing.tsv")


def test_split_is_stratified_seeded_and_disjoint(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.tsv", "text\tlabel\n" + _rows(40, "a") + _rows(20, "b"))
    data = read_labeled(path)
    split = split_rows(data, 0.25, seed=3, decontaminate=False)
    assert not set(split.train) & set(split.validation)
    assert len(split.train) + len(split.validation) == 60
    assert np.bincount(data.y[split.validation]).tolist() == [10, 5]
    again = split_rows(data, 0.25, seed=3, decontaminate=False)
    assert split.validation.tolist() == again.validation.tolist()


def test_decontamination_keeps_sub_phrases_on_one_side(tmp_path: Path) -> None:
    # Every long sentence comes with its own sub-phrases, as in SST-2.
    lines = []
    for i in range(30):
        label = "pos" if i % 2 else "neg"
        lines += [f"movie {i} was {label} indeed\t{label}", f"movie {i} was\t{label}"]
    data = read_labeled(_write(tmp_path / "p.tsv", "text\tlabel\n" + "\n".join(lines) + "\n"))
    split = split_rows(data, 0.3, seed=0)
    train = [data.texts[i] for i in split.train]
    for i in split.validation:
        text = data.texts[i]
        assert not any(text in t or t in text for t in train), text
    leaky = split_rows(data, 0.3, seed=0, decontaminate=False)
    leaky_train = [data.texts[i] for i in leaky.train]
    assert any(data.texts[i] in t for i in leaky.validation for t in leaky_train)
