"""Collapse customer rows into unique rows with counts, fast for the whole-period summaries.

A warehouse summary in whole days or weeks has few distinct values per column (frequency 0..200,
recency and T 0..a few hundred), so a column whose values lie exactly on a lattice (whole numbers,
sevenths, hundredths: days, weeks as days / 7, cents) in a modest range is coded by arithmetic,
without a sort; other columns are coded with np.unique. The column codes are then
combined into one integer key per row (mixed radix), counted with np.bincount when the key space
is small and np.unique otherwise. The per-column levels and codes are kept: the likelihoods
evaluate their special functions once per distinct value (per level) and gather by code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_DIRECT_RANGE = 1 << 20  # lattice columns spanning at most this many steps are coded directly
# whole numbers (days, weeks, counts), sevenths (weeks computed as days / 7), hundredths (cents)
_LATTICES = (1.0, 7.0, 100.0)
_BINCOUNT_KEYS = 1 << 23  # key spaces up to this size are counted with bincount
_KEY_LIMIT = 1 << 62


@dataclass(frozen=True)
class UniqueRows:
    columns: list[FloatArray]  # the unique rows, one array per input column
    counts: FloatArray  # summed weight of each unique row
    levels: list[FloatArray]  # per column: sorted candidate values the codes index
    codes: list[IntArray]  # per column: each unique row's index into levels
    inverse: IntArray  # for every input row, the index of its unique row


def factorise(column: FloatArray) -> tuple[FloatArray, IntArray]:
    """(levels, codes) with levels[codes] == column, exactly."""
    if column.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    for scale in _LATTICES:
        scaled = np.rint(column * scale)
        low, high = float(scaled.min()), float(scaled.max())
        if high - low < _DIRECT_RANGE and np.array_equal(scaled / scale, column):
            levels = (low + np.arange(int(high - low) + 1, dtype=np.float64)) / scale
            return levels, (scaled - low).astype(np.int64)
    levels, codes = np.unique(column, return_inverse=True)
    return levels.astype(np.float64), codes.reshape(-1).astype(np.int64)


def unique_rows(columns: Sequence[FloatArray], weights: FloatArray | None = None) -> UniqueRows:
    """Unique rows of the columns (all the same length) with their summed weights (default 1 each)."""
    n = columns[0].shape[0]
    factored = [factorise(c) for c in columns]
    sizes = [max(len(levels), 1) for levels, _ in factored]
    space = 1
    for size in sizes:
        space *= size
    if space < _KEY_LIMIT:
        key = np.zeros(n, dtype=np.int64)
        for (_, codes), size in zip(factored, sizes, strict=True):
            key = key * size + codes
        if space <= max(_BINCOUNT_KEYS, 4 * n):
            present = np.bincount(key, minlength=space) > 0
            unique_keys = np.flatnonzero(present).astype(np.int64)
            position = np.cumsum(present) - 1
            inverse = position[key].astype(np.int64)
        else:
            unique_keys, inverse = np.unique(key, return_inverse=True)
            inverse = inverse.reshape(-1).astype(np.int64)
        codes_out: list[IntArray] = []
        rest = unique_keys
        for size in reversed(sizes):
            codes_out.append((rest % size).astype(np.int64))
            rest = rest // size
        codes_out.reverse()
    else:  # too many distinct values to pack a key: sort the code tuples
        stacked = np.column_stack([codes for _, codes in factored])
        unique_codes, inverse = np.unique(stacked, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
        codes_out = [unique_codes[:, j].astype(np.int64) for j in range(unique_codes.shape[1])]
    counts = np.bincount(inverse, weights=weights, minlength=codes_out[0].shape[0]).astype(np.float64)
    levels = [levels for levels, _ in factored]
    return UniqueRows(
        columns=[lv[c] for lv, c in zip(levels, codes_out, strict=True)],
        counts=counts,
        levels=levels,
        codes=codes_out,
        inverse=inverse,
    )
