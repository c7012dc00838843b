"""How a batch is cut into forward passes by length (no model needed)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from inferql.inference.encoding import Tokenized, padding_groups


def cost(lengths: list[int], groups: list[list[int]], pass_tokens: int) -> int:
    return sum(len(g) * max(lengths[r] for r in g) + pass_tokens for g in groups)


def cheapest_by_brute_force(lengths: list[int], pass_tokens: int) -> int:
    """Every cut of the rows sorted by length into contiguous passes."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    best = None
    for cuts in itertools.product((False, True), repeat=len(order) - 1):
        groups, current = [], [order[0]]
        for row, cut in zip(order[1:], cuts, strict=True):
            if cut:
                groups.append(current)
                current = []
            current.append(row)
        groups.append(current)
        found = cost(lengths, groups, pass_tokens)
        best = found if best is None else min(best, found)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(40))
def test_the_cut_is_a_partition_by_length_and_the_cheapest(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([3, 5, 8, 20, 21, 40, 256]) for _ in range(rng.randint(1, 9))]
    pass_tokens = rng.choice([0, 4, 16, 64])
    groups = [g.tolist() for g in padding_groups(lengths, pass_tokens)]
    assert sorted(r for g in groups for r in g) == list(range(len(lengths)))
    assert all(g == sorted(g) for g in groups)  # rows keep their order within a pass
    for shorter, longer in itertools.pairwise(groups):
        assert max(lengths[r] for r in shorter) < min(lengths[r] for r in longer)
    assert cost(lengths, groups, pass_tokens) == cheapest_by_brute_force(lengths, pass_tokens)


def test_free_passes_pad_nothing_and_costly_ones_make_one_pass() -> None:
    lengths = [9, 20, 9, 25, 20, 9]
    free = [g.tolist() for g in padding_groups(lengths, 0)]
    assert free == [[0, 2, 5], [1, 4], [3]]
    assert [g.tolist() for g in padding_groups(lengths, 10**9)] == [list(range(6))]
    assert [g.tolist() for g in padding_groups([7], 16)] == [[0]]


def test_rows_are_cut_to_their_longest() -> None:
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=np.int64)
    ids = np.arange(12, dtype=np.int64).reshape(3, 4) * mask
    batch = Tokenized(ids, mask, np.zeros_like(ids), [True, False, False])
    assert batch.lengths.tolist() == [4, 2, 3]
    part = batch.rows(np.array([1, 2]))
    assert part.input_ids.tolist() == [[4, 5, 0], [8, 9, 10]]
    assert part.attention_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert part.token_type_ids.shape == (2, 3)
    assert part.truncated == [False, False]
