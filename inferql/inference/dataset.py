"""Labeled text files for building classifiers: read, clean, split.

A file is CSV or TSV (by extension: ``.tsv``/``.tab`` tab, ``.csv`` comma; any
other extension is sniffed) with a header naming a text and a label column.
Rows are read with the :mod:`csv` module, so quoted fields may span lines.

Cleaning: texts are stripped; empty texts are dropped; a text that appears more
than once keeps one row, and a text given two different labels is dropped
entirely (it cannot be learned and would make validation noisy).

Splitting is stratified and seeded (:func:`inferql.inference.training.stratified_mask`).
With ``decontaminate`` (the default of the build command) no validation text is
contained in a training text and no training text in a validation text (word
boundaries, case-sensitive): corpora like SST-2 hold every sub-phrase of a
sentence as its own row, and a random split would otherwise validate on
phrases whose longer or shorter forms were trained on.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inferql.inference.training import IntArray, stratified_mask

MIN_ROWS_PER_LABEL = 5


class DatasetError(ValueError):
    """A labeled file cannot be used to build a classifier; the message says why."""


@dataclass(frozen=True, slots=True)
class LabeledData:
    """Cleaned rows: ``texts[i]`` has label ``labels[y[i]]``."""

    texts: list[str]
    y: IntArray
    labels: tuple[str, ...]
    rows_read: int
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dialect_delimiter(path: Path, sample: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters="\t,;").delimiter
    except csv.Error as exc:
        raise DatasetError(f"{path}: cannot tell whether it is CSV or TSV: {exc}") from None


def read_labeled(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    label_names: dict[str, str] | None = None,
) -> LabeledData:
    """Read and clean ``path``. ``label_names`` renames raw labels (``{"0":
    "negative"}``) and, when given, fixes the label order; otherwise labels are
    sorted. :class:`DatasetError` for a missing file or column, fewer than two
    labels, or a label with fewer than ``MIN_ROWS_PER_LABEL`` rows."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    delimiter = _dialect_delimiter(path, content[:65536])
    reader = csv.DictReader(content.splitlines(keepends=True), delimiter=delimiter)
    header = reader.fieldnames or []
    for column in (text_column, label_column):
        if column not in header:
            raise DatasetError(
                f"{path}: no column {column!r}; the header has {', '.join(map(repr, header))}"
            )
    seen: dict[str, str | None] = {}
    rows_read = 0
    for row in reader:
        rows_read += 1
        text = (row.get(text_column) or "").strip()
        label = (row.get(label_column) or "").strip()
        if not text or not label:
            continue
        if label_names is not None:
            if label not in label_names:
                raise DatasetError(f"{path}: label {label!r} is not renamed by the label map")
            label = label_names[label]
        previous = seen.get(text, label)
        seen[text] = label if previous == label else None  # None: conflicting labels
    kept = {text: label for text, label in seen.items() if label is not None}
    counts = Counter(kept.values())
    if label_names is not None:
        labels = tuple(dict.fromkeys(v for v in label_names.values() if v in counts))
    else:
        labels = tuple(sorted(counts))
    if len(labels) < 2:
        raise DatasetError(
            f"{path}: needs at least two labels, found {len(labels)} ({', '.join(labels)})"
        )
    rare = sorted(label for label in labels if counts[label] < MIN_ROWS_PER_LABEL)
    if rare:
        raise DatasetError(
            f"{path}: every label needs at least {MIN_ROWS_PER_LABEL} rows; too few for "
            + ", ".join(f"{label!r} ({counts[label]})" for label in rare)
        )
    index = {label: i for i, label in enumerate(labels)}
    texts = list(kept)
    y = np.array([index[kept[text]] for text in texts], dtype=np.int64)
    return LabeledData(texts, y, labels, rows_read, file_sha256(path))


@dataclass(frozen=True, slots=True)
class Split:
    train: npt.NDArray[np.int64]
    validation: npt.NDArray[np.int64]


def split_rows(
    data: LabeledData, fraction: float, *, seed: int, decontaminate: bool = True
) -> Split:
    """Row indices of a stratified, seeded split; see the module docstring.
    Decontaminating first drops validation rows contained in a training text,
    then training rows contained in a remaining validation text."""
    mask = stratified_mask(data.y, fraction, seed=seed)
    train, validation = np.flatnonzero(~mask), np.flatnonzero(mask)
    if decontaminate:
        train_blob = "\n" + "\n".join(f" {data.texts[i]} " for i in train) + "\n"
        validation = np.array(
            [i for i in validation if f" {data.texts[i]} " not in train_blob], dtype=np.int64
        )
        validation_blob = "\n" + "\n".join(f" {data.texts[i]} " for i in validation) + "\n"
        train = np.array(
            [i for i in train if f" {data.texts[i]} " not in validation_blob], dtype=np.int64
        )
    for name, rows in (("training", train), ("validation", validation)):
        missing = sorted(set(range(len(data.labels))) - set(data.y[rows].tolist()))
        if missing:
            raise DatasetError(
                f"the {name} split has no rows of "
                + ", ".join(repr(data.labels[k]) for k in missing)
                + " (more data, a larger --validation-split or --no-decontaminate may help)"
            )
    return Split(train, validation)
