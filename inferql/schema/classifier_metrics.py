"""A trained classifier version's validation figures, as GraphQL sees them."""

from __future__ import annotations

import strawberry

from inferql.inference.manifest import ClassifierSpec


@strawberry.type(description="How well a classifier did on one label of its validation rows.")
class LabelMetrics:
    label: str
    precision: float = strawberry.field(
        description="Of the rows it gave this label, how many had it."
    )
    recall: float = strawberry.field(description="Of the rows with this label, how many it found.")
    f1: float = strawberry.field(description="The harmonic mean of precision and recall.")
    support: int = strawberry.field(description="Validation rows with this label.")


@strawberry.type(description="Another head measured on the same validation rows.")
class BaselineMetrics:
    name: str = strawberry.field(description="What was measured, e.g. `sentiment@1`.")
    head: str = strawberry.field(description="Its head: `zero-shot`, `prototype` or `linear`.")
    accuracy: float


@strawberry.type(
    description="Validation figures of a classifier built from labeled data, measured on "
    "rows held out from its training."
)
class ClassifierMetrics:
    accuracy: float = strawberry.field(description="Share of validation rows labeled correctly.")
    validation_size: int = strawberry.field(description="How many validation rows.")
    calibration_temperature: float = strawberry.field(
        description="The temperature its logits are divided by, fitted on the validation rows."
    )
    ece_before: float | None = strawberry.field(
        description="Expected calibration error of the top label without the temperature."
    )
    ece_after: float | None = strawberry.field(
        description="Expected calibration error with it (cross-fitted on the validation rows)."
    )
    per_label: list[LabelMetrics]
    baselines: list[BaselineMetrics] = strawberry.field(
        description="Other heads on the same validation rows, for comparison."
    )
    built_from: str | None = strawberry.field(
        description="The labeled file it was built from, with its SHA-256."
    )
    built_at: str | None = strawberry.field(description="When it was built (ISO 8601, UTC).")

    @classmethod
    def from_spec(cls, spec: ClassifierSpec) -> ClassifierMetrics | None:
        """``None`` for a version without measured figures (a zero-shot one)."""
        metrics = spec.metrics
        if metrics is None:
            return None
        build = spec.build
        return cls(
            accuracy=metrics.accuracy,
            validation_size=metrics.validation_size,
            calibration_temperature=spec.temperature,
            ece_before=metrics.ece_before,
            ece_after=metrics.ece_after,
            per_label=[
                LabelMetrics(
                    label=m.label,
                    precision=m.precision,
                    recall=m.recall,
                    f1=m.f1,
                    support=m.support,
                )
                for m in metrics.per_label
            ],
            baselines=[
                BaselineMetrics(name=b.name, head=b.head, accuracy=b.accuracy)
                for b in metrics.baselines
            ],
            built_from=None if build is None else f"{build.data} (sha256 {build.data_sha256})",
            built_at=None if build is None else build.built_at,
        )
