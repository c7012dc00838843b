"""Classifier manifests: a classifier version is data, one TOML file, not code.

A manifest is parsed with ``tomllib`` and validated with pydantic into a frozen
:class:`ClassifierSpec`. Every problem is raised as :class:`ManifestError` whose
message starts with the file's path. Cheap: imports neither torch nor numpy.

Schema (unknown keys are errors, so a typo does not pass silently)::

    name = "sentiment"            # letters, digits, "_", "-", "."; no "@"
    version = "1"                 # same alphabet; a bare integer is accepted
    description = "..."
    head = "zero-shot"            # or "prototype" or "linear"
    encoder = "all-MiniLM-L6-v2"  # optional, the default
    scale = 30                    # optional: centroid heads' inverse temperature, 0 < scale <= 1000
    temperature = 1.0             # optional: calibration, logits / temperature before softmax
    weights = "2.npz"             # trained heads: numpy arrays beside the manifest
    features = "mean"             # linear heads: "mean" (the sentence embedding) or
                                  # "mean+middle" (beside it, the middle layer's)
    [[labels]]                    # at least two, names unique
    name = "positive"
    descriptions = ["..."]        # zero-shot: required; otherwise not allowed
    examples = ["..."]            # prototype without weights: required; otherwise not allowed
    [build]                       # optional provenance, written by `inferql classifier build`
    [metrics]                     # optional validation figures, likewise

``weights`` (a file name relative to the manifest) holds ``W`` and ``b`` for a
linear head, ``centroids`` for a prototype head; it is only checked to exist
here, and read (with numpy, no pickle) when the classifier is built.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from inferql.inference.types import ModelRef

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
KNOWN_ENCODERS = frozenset({DEFAULT_ENCODER})
DEFAULT_SCALE = 30.0

HeadKind = Literal["zero-shot", "prototype", "linear"]
#: What a head reads from the encoder (see ``inferql.inference.encoding.Encoded``).
Features = Literal["mean", "mean+middle"]

_IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Identifier = Annotated[str, StringConstraints(pattern=_IDENT, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_INTEGER = re.compile(r"^[0-9]+$")


class ManifestError(ValueError):
    """A manifest (or a set of them) is unreadable, invalid or conflicting. The
    message names the file; raised at start-up, never to a client."""


class LabelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text
    descriptions: tuple[Text, ...] = ()
    examples: tuple[Text, ...] = ()


class BuildInfo(BaseModel):
    """How a trained version was made: enough to rebuild it and check its data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: str
    data_sha256: str
    rows: int = Field(ge=0, description="Rows read from the file.")
    used_rows: int = Field(ge=0, description="Rows left after dropping duplicates and conflicts.")
    train_rows: int = Field(ge=0)
    validation_rows: int = Field(ge=0)
    validation_split: float = Field(gt=0, lt=1)
    decontaminated: bool = False
    seed: int
    l2: float | None = None
    built_at: str
    command: str = ""


class LabelMetricsSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    precision: float
    recall: float
    f1: float
    support: int


class BaselineSpec(BaseModel):
    """Another head measured on the same validation rows, for comparison."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    head: HeadKind
    accuracy: float


class MetricsSpec(BaseModel):
    """Validation figures of a trained version, on rows it was not fitted on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accuracy: float = Field(ge=0, le=1)
    validation_size: int = Field(ge=1)
    ece_before: float | None = None
    ece_after: float | None = None
    nll_before: float | None = None
    nll_after: float | None = None
    per_label: tuple[LabelMetricsSpec, ...] = ()
    baselines: tuple[BaselineSpec, ...] = ()


class ClassifierSpec(BaseModel):
    """One classifier version, validated. ``source`` is the manifest's path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    version: Identifier
    description: Text
    head: HeadKind
    encoder: str = DEFAULT_ENCODER
    scale: float = Field(DEFAULT_SCALE, gt=0, le=1000)
    temperature: float = Field(1.0, gt=0, le=1000)
    weights: str | None = None
    features: Features = "mean"
    labels: tuple[LabelSpec, ...] = Field(min_length=2)
    build: BuildInfo | None = None
    metrics: MetricsSpec | None = None
    source: Path

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def weights_path(self) -> Path | None:
        """The weights file, beside the manifest; ``None`` if it has none."""
        return None if self.weights is None else self.source.parent / self.weights

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        """TOML ``version = 2`` means ``"2"``."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, value: str) -> str:
        if value not in KNOWN_ENCODERS:
            raise ValueError(
                f"unknown encoder {value!r}; known: {', '.join(sorted(KNOWN_ENCODERS))}"
            )
        return value

    @model_validator(mode="after")
    def _labels_fit_head(self) -> ClassifierSpec:
        names = [label.name for label in self.labels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"label names must be unique; repeated: {', '.join(duplicates)}")
        if self.head == "linear" and self.weights is None:
            raise ValueError("head = 'linear' needs `weights`")
        if self.features != "mean" and self.head != "linear":
            raise ValueError(f"features = {self.features!r} needs head = 'linear'")
        if self.head == "zero-shot" and self.weights is not None:
            raise ValueError("head = 'zero-shot' does not use `weights`")
        path = self.weights_path
        if path is not None and not path.is_file():
            raise ValueError(f"weights file {str(path)!r} does not exist")
        need = {"zero-shot": "descriptions", "prototype": "examples", "linear": None}[self.head]
        if self.weights is not None:
            need = None  # a trained head's labels are only names
        for label in self.labels:
            if need is not None and not getattr(label, need):
                raise ValueError(f"label {label.name!r} needs `{need}` (head = {self.head!r})")
            for field in ("descriptions", "examples"):
                if field != need and getattr(label, field):
                    raise ValueError(
                        f"label {label.name!r} has `{field}`, which "
                        f"{'a head with weights' if self.weights else f'head = {self.head!r}'}"
                        " does not use"
                    )
        return self


def version_key(version: str) -> tuple[int, int, str]:
    """Sort key for versions: integers numerically ("2" < "10") and before any
    non-integer version; non-integers as plain strings."""
    if _INTEGER.match(version):
        return (0, int(version), "")
    return (1, 0, version)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "manifest"
        message = item["msg"]
        if item["type"] == "value_error" and "error" in item.get("ctx", {}):
            message = str(item["ctx"]["error"])  # ours: drop pydantic's "Value error, "
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def parse_manifest(path: Path) -> ClassifierSpec:
    """Read and validate one manifest file; :class:`ManifestError` on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read classifier manifest: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: classifier manifest is not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: classifier manifest is not valid TOML: {exc}") from exc
    if "source" in data:
        raise ManifestError(f"{path}: invalid classifier manifest:\n  source: not a manifest key")
    try:
        return ClassifierSpec.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise ManifestError(f"{path}: invalid classifier manifest:\n{_describe(exc)}") from exc


def find_manifests(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.toml`` below it (recursively),
    sorted. :class:`ManifestError` if ``path`` does not exist."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.toml") if p.is_file())
    raise ManifestError(f"{path}: no such classifier manifest file or directory")
