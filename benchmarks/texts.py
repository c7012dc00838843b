"""The benchmark's texts: distinct English sentences of about 17 tokens (the
figure the issue's known numbers were measured at), generated deterministically
so that every run and every process classifies the same texts."""

from __future__ import annotations

import random

_SUBJECTS = (
    "The delivery",
    "My new phone",
    "The hotel staff",
    "This update",
    "The match",
    "Our quarterly report",
    "The new policy",
    "The restaurant",
    "Customer support",
    "The train service",
    "The concert",
    "The software release",
    "The market rally",
)
_VERBS = (
    "was surprisingly good",
    "arrived two days late",
    "completely failed",
    "exceeded every expectation",
    "left us disappointed",
    "worked without problems",
    "caused a lot of confusion",
    "made everyone happy",
    "broke after a week",
)
_TAILS = (
    "and I would recommend it to friends",
    "so we asked for a refund",
    "despite the heavy rain last night",
    "according to the morning news",
    "after the long weekend in town",
    "which nobody expected this year",
    "and the price was fair",
    "while the team kept improving",
)


def make_texts(count: int, *, seed: int = 0) -> list[str]:
    """``count`` distinct texts (a number keeps repeats of a sentence apart)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TAILS)}, case {seed}-{i}."
        for i in range(count)
    ]


def make_long_texts(count: int, *, seed: int = 0, words: int = 150) -> list[str]:
    """``count`` distinct long texts (about ``words`` words each)."""
    rng = random.Random(seed)
    pool = [w for part in (_SUBJECTS, _VERBS, _TAILS) for s in part for w in s.lower().split()]
    return [" ".join(rng.choice(pool) for _ in range(words)) + f" {seed}-{i}" for i in range(count)]
