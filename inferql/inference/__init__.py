"""Text in, predictions out. Imports nothing of strawberry, starlette or redis, so
a worker or a benchmark can use it alone."""

from __future__ import annotations

from inferql.inference.types import LabelScore, Model, ModelProvider, ModelRef, Prediction

__all__ = ["LabelScore", "Model", "ModelProvider", "ModelRef", "Prediction"]
