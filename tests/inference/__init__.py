"""Tests of the inference layer, against the real all-MiniLM-L6-v2 model."""

from __future__ import annotations
