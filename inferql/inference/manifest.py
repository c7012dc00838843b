"""Classifier manifests: a classifier version is data, one TOML file, not code.

A manifest is parsed with ``tomllib`` and validated with pydantic into a frozen
:class:`ClassifierSpec`. Every problem is raised as :class:`ManifestError` whose
message starts with the file's path. Cheap: imports neither torch nor numpy.

Schema (unknown keys are errors, so a typo does not pass silently)::

    name = "sentiment"            # letters, digits, "_", "-", "."; no "@"
    version = "1"                 # same alphabet; a bare integer is accepted
    description = "..."
    head = "zero-shot"            # or "prototype"
    encoder = "all-MiniLM-L6-v2"  # optional, the default
    scale = 30                    # optional: softmax temperature, 0 < scale <= 1000
    [[labels]]                    # at least two, names unique
    name = "positive"
    descriptions = ["..."]        # zero-shot: required; prototype: not allowed
    examples = ["..."]            # prototype: required; zero-shot: not allowed
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

HeadKind = Literal["zero-shot", "prototype"]

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


class ClassifierSpec(BaseModel):
    """One classifier version, validated. ``source`` is the manifest's path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    version: Identifier
    description: Text
    head: HeadKind
    encoder: str = DEFAULT_ENCODER
    scale: float = Field(DEFAULT_SCALE, gt=0, le=1000)
    labels: tuple[LabelSpec, ...] = Field(min_length=2)
    source: Path

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

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
        need, forbid = (
            ("descriptions", "examples")
            if self.head == "zero-shot"
            else ("examples", "descriptions")
        )
        for label in self.labels:
            if not getattr(label, need):
                raise ValueError(f"label {label.name!r} needs `{need}` (head = {self.head!r})")
            if getattr(label, forbid):
                raise ValueError(
                    f"label {label.name!r} has `{forbid}`, which head = {self.head!r} does not use"
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
