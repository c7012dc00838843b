"""Predictions and the models that make them, as GraphQL sees them."""

from __future__ import annotations

from enum import Enum

import strawberry

from inferql import inference
from inferql.inference.manifest import ClassifierSpec
from inferql.schema.classifier_metrics import ClassifierMetrics


@strawberry.type(description="A classifier at one version, as `name@version` names it.")
class ModelRef:
    name: str = strawberry.field(description="The classifier's name, e.g. `sentiment`.")
    version: str = strawberry.field(description="The classifier's version, e.g. `1`.")

    @classmethod
    def from_domain(cls, ref: inference.ModelRef) -> ModelRef:
        return cls(name=ref.name, version=ref.version)


@strawberry.type(description="The probability the model gives one label.")
class LabelScore:
    label: str
    score: float = strawberry.field(description="Between 0 and 1; a text's scores sum to 1.")


@strawberry.enum(description="How a classifier turns an embedding into label scores.")
class ClassifierHead(Enum):
    ZERO_SHOT = strawberry.enum_value("zero-shot", description="Similarity to label descriptions.")
    PROTOTYPE = strawberry.enum_value(
        "prototype", description="Few-shot: similarity to the mean of each label's examples."
    )
    LINEAR = strawberry.enum_value(
        "linear", description="Logistic regression trained on labeled examples' embeddings."
    )


@strawberry.type(description="The classification of one text.")
class Prediction:
    label: str = strawberry.field(description="The most likely label.")
    score: float = strawberry.field(description="The most likely label's score.")
    scores: list[LabelScore] = strawberry.field(
        description="Every label of the model with its score, most likely first."
    )
    model: ModelRef = strawberry.field(description="The classifier and version that decided.")
    cached: bool = strawberry.field(
        description="True when this answer came from the inference cache, not a model call."
    )
    truncated: bool = strawberry.field(
        description="True when the text was longer than the model reads; only its start counted."
    )
    head: ClassifierHead | None = strawberry.field(
        description="The kind of head that scored it (null from an older cached answer)."
    )

    @classmethod
    def from_domain(cls, p: inference.Prediction) -> Prediction:
        return cls(
            label=p.label,
            score=p.score,
            scores=[LabelScore(label=s.label, score=s.score) for s in p.scores],
            model=ModelRef.from_domain(p.model),
            cached=p.cached,
            truncated=p.truncated,
            head=None if p.head is None else ClassifierHead(p.head),
        )


@strawberry.type(description="One version of a classifier.")
class ModelVersion:
    version: str
    head: ClassifierHead
    labels: list[str] = strawberry.field(description="The labels it chooses between.")
    encoder: str = strawberry.field(description="The text encoder it runs on.")
    ref: ModelRef
    metrics: ClassifierMetrics | None = strawberry.field(
        description="Its validation figures; null for a version not built from labeled data."
    )

    @classmethod
    def from_spec(cls, spec: ClassifierSpec) -> ModelVersion:
        return cls(
            version=spec.version,
            head=ClassifierHead(spec.head),
            labels=list(spec.label_names),
            encoder=spec.encoder,
            ref=ModelRef.from_domain(spec.ref),
            metrics=ClassifierMetrics.from_spec(spec),
        )


@strawberry.type(description='A classifier. `model: "name"` means its latest version.')
class Model:
    name: str
    description: str
    latest: ModelVersion = strawberry.field(description="The version a bare name means.")
    versions: list[ModelVersion] = strawberry.field(description="Every version, oldest first.")

    @strawberry.field(description="The latest version's head.")
    def head(self) -> ClassifierHead:
        return self.latest.head

    @strawberry.field(description="The latest version's labels.")
    def labels(self) -> list[str]:
        return self.latest.labels

    @strawberry.field(description="The latest version's validation figures (null: none).")
    def metrics(self) -> ClassifierMetrics | None:
        return self.latest.metrics

    @classmethod
    def from_specs(cls, specs: list[ClassifierSpec]) -> Model:
        versions = [ModelVersion.from_spec(spec) for spec in specs]
        return cls(
            name=specs[-1].name,
            description=specs[-1].description,
            latest=versions[-1],
            versions=versions,
        )
