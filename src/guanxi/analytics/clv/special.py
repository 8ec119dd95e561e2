"""Numerically safe special-function pieces the BG/NBD predictions need.

The conditional expectation of BG/NBD (and of the modified BG/NBD) contains the product

    G = (1 - z)^p * 2F1(p, q; c; z),        0 <= z < 1,

with p = r + x growing with the customer's frequency. Evaluated as written, (1 - z)^p underflows
and 2F1 overflows for large x, and their product becomes 0 * inf = NaN (the failure seen with
large frequency or T). We compute log G instead:

1. Euler's transformation 2F1(p, q; c; z) = (1 - z)^(c - p - q) 2F1(c - p, c - q; c; z) gives
   G = (1 - z)^(c - q) * 2F1(c - p, c - q; c; z). For the BG/NBD, c - p and c - q do not grow with
   x while c does, so the transformed function stays near 1 and scipy's hyp2f1 is finite; we take
   its logarithm where it is finite and positive.
2. Where it is not (scipy returns inf/NaN or a non-positive value for some parameter corners), the
   original series is summed in log space: every term of 2F1(p, q; c; z) is positive when p, q,
   c > 0, so log 2F1 = logsumexp of the log terms, without cancellation, and
   log G = p log(1 - z) + log 2F1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]

# log-space series: terms are summed in blocks until a block adds less than e^-40 of the total
_SERIES_BLOCK = 512
_SERIES_MAX_TERMS = 2_000_000
_SERIES_NEGLIGIBLE = -40.0


def log_hyp2f1_series(p: FloatArray, q: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """log 2F1(p, q; c; z) by summing the positive hypergeometric series in log space.

    Needs p, q, c > 0 and 0 <= z < 1; returns NaN where those do not hold.
    """
    p, q, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (p, q, c, z)))
    out = np.full(p.shape, np.nan)
    ok = (p > 0) & (q > 0) & (c > 0) & (z >= 0) & (z < 1)
    out[ok & (z == 0)] = 0.0
    todo = np.flatnonzero(ok & (z > 0))
    if todo.size == 0:
        return out
    pp, qq, cc = p.flat[todo], q.flat[todo], c.flat[todo]
    log_z = np.log(z.flat[todo])
    total = np.zeros(todo.size)  # log of the running sum; the n = 0 term is 1
    last = np.zeros(todo.size)  # log of the latest term
    active = np.ones(todo.size, dtype=bool)
    start = 0
    steps = np.arange(_SERIES_BLOCK, dtype=np.float64)
    while active.any() and start < _SERIES_MAX_TERMS:
        idx = np.flatnonzero(active)
        k = start + steps[None, :]
        # log of term(n+1)/term(n) = log((p+n)(q+n) z / ((c+n)(n+1)))
        ratio = (
            np.log(pp[idx, None] + k)
            + np.log(qq[idx, None] + k)
            - np.log(cc[idx, None] + k)
            - np.log1p(k)
            + log_z[idx, None]
        )
        terms = last[idx, None] + np.cumsum(ratio, axis=1)
        block = special.logsumexp(terms, axis=1)
        total[idx] = np.logaddexp(total[idx], block)
        last[idx] = terms[:, -1]
        # stop once the block was negligible and the terms are shrinking (ratio < 1 from here on)
        done = (block - total[idx] < _SERIES_NEGLIGIBLE) & (ratio[:, -1] < 0)
        active[idx[done]] = False
        start += _SERIES_BLOCK
    total[active] = np.nan  # did not converge within the cap: report it, never a wrong number
    out.flat[todo] = total
    return out


def log_scaled_hyp2f1(p: FloatArray, q: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """log[(1 - z)^p * 2F1(p, q; c; z)] for 0 <= z < 1, finite wherever the value is."""
    p, q, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (p, q, c, z)))
    log1mz = np.log1p(-z)
    with np.errstate(all="ignore"):
        transformed = special.hyp2f1(c - p, c - q, c, z)
        good = np.isfinite(transformed) & (transformed > 0)
        out = np.where(good, (c - q) * log1mz + np.log(np.where(good, transformed, 1.0)), np.nan)
    bad = ~good
    if bad.any():
        out[bad] = p[bad] * log1mz[bad] + log_hyp2f1_series(p[bad], q[bad], c[bad], z[bad])
    return out
