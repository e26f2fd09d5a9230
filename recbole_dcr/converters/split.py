"""The leakage-free split of (user, item) pairs and the equal-frequency bins of the confounder.

Everything here depends only on the set of values and the seed, never on row
order, so the same raw log always converts to the same bytes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def pair_codes(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One int64 per (user, item) pair whose order does not depend on row order
    (codes come from the sorted distinct ids)."""
    user_code, user_values = pd.factorize(users, sort=True)
    item_code, item_values = pd.factorize(items, sort=True)
    return user_code.astype(np.int64) * np.int64(len(item_values)) + item_code.astype(np.int64)


def split_sizes(n: int, ratios: Sequence[float]) -> list[int]:
    """Sizes that add up to n, rounding the cumulative shares so no pair is lost."""
    total = float(sum(ratios))
    bounds = [0] + [int(round(n * float(np.sum(ratios[: i + 1])) / total)) for i in range(len(ratios))]
    bounds[-1] = n
    return [bounds[i + 1] - bounds[i] for i in range(len(ratios))]


def assign_pair_splits(pair_keys: np.ndarray, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Split code (0 train, 1 valid, 2 test) per row; all rows of a pair share it.

    The distinct pairs are taken in sorted order and shuffled with ``seed``, so
    the result depends only on the set of pairs and the seed, not on row order.
    """
    distinct, row_to_pair = np.unique(pair_keys, return_inverse=True)
    permutation = np.random.default_rng(seed).permutation(len(distinct))
    pair_split = np.empty(len(distinct), dtype=np.int8)
    start = 0
    for code, size in enumerate(split_sizes(len(distinct), ratios)):
        pair_split[permutation[start:start + size]] = code
        start += size
    return pair_split[row_to_pair.reshape(-1)]


def equal_frequency_edges(durations: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges that cut the given durations (one per item) into ``bins``
    groups of equal size.

    Edge i is the duration of the item at rank round(n * i / bins), so with
    "level = number of edges <= duration" exactly that many items fall below it.
    Edges are actual durations, which keeps every bin non-empty; equal edges,
    caused by many items sharing a duration, are merged into fewer bins.
    """
    n = len(durations)
    if n == 0:
        return np.array([], dtype=np.float64)
    ordered = np.sort(np.asarray(durations, dtype=np.float64))
    ranks = np.minimum((n * np.arange(1, bins) + bins // 2) // bins, n - 1)
    edges = np.unique(ordered[ranks])
    # An edge equal to the minimum would leave bin 0 empty.
    return edges[edges > ordered[0]]


def assign_levels(durations: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bin index = number of inner edges <= duration (0 .. len(edges))."""
    return np.searchsorted(inner_edges, durations, side="right").astype(np.int16)
