"""The values that cross the inference boundary, and the protocols behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, order=True)
class ModelRef:
    """A classifier at one version: ``sentiment@1``."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def parse(cls, value: str) -> ModelRef:
        """Parse ``name@version``; raise ``ValueError`` if either part is missing."""
        name, sep, version = value.partition("@")
        if not sep or not name or not version:
            raise ValueError(f"expected name@version, got {value!r}")
        return cls(name, version)


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """One text's classification. ``scores`` covers every label of the model, best
    first; ``label``/``score`` repeat the best one. ``truncated`` says the text was
    longer than the encoder's window and only its start was read. ``cached`` says
    the prediction came from the inference cache rather than a model call.
    ``head`` is the kind of head that scored it (``"zero-shot"``, ``"prototype"``
    or ``"linear"``); ``None`` from a model that is not a manifest classifier, or
    from a cache entry written before predictions recorded it."""

    label: str
    score: float
    scores: tuple[LabelScore, ...]
    model: ModelRef
    truncated: bool = False
    cached: bool = False
    head: str | None = None


class Model(Protocol):
    """Anything that classifies texts. One call classifies a whole batch; the worker
    makes exactly one call per batch. Runs in a worker thread, never on the event
    loop, so it may block."""

    @property
    def ref(self) -> ModelRef: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one prediction per text, in order."""
        ...


class ModelProvider(Protocol):
    """Loads models by reference; what a worker needs from the registry."""

    def load(self, ref: ModelRef) -> Model:
        """Return the loaded model (loading it on first use; may block for seconds).
        Raise ``inferql.errors.ModelNotFoundError`` for an unknown reference."""
        ...
