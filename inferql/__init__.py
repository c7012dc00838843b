"""inferql: a GraphQL inference gateway over text-classification models."""

from __future__ import annotations

__version__ = "0.1.0"
