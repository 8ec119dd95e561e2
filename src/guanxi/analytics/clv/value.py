"""Discounted customer lifetime value from a BG/NBD fit and a Gamma-Gamma fit.

For month m = 1..M the expected purchases in that month are the increments of the conditional
expectation, E[Y(m k)] - E[Y((m-1) k)] with k = days_per_month / time_unit_days fit-time units
per month; each purchase is worth margin * E[spend] - cost_per_purchase, and month m is discounted
by (1 + monthly_discount)^-m (end-of-month cash flows):

    CLV = sum_m (E[Y(m k)] - E[Y((m-1) k)]) * (margin * E[M | x, m] - cost) / (1 + d)^m

This is the usual discrete-time sum (as lifetimes computes it); with a month of 365.25/12 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from guanxi.analytics.clv.fitting import FloatArray
from guanxi.analytics.clv.gamma_gamma import GammaGammaFit
from guanxi.analytics.clv.rows import unique_rows

DAYS_PER_MONTH = 365.25 / 12


class PurchaseModel(Protocol):
    """What discounted_clv needs of a purchase model: BgNbdFit and ParetoNbdFit both provide it."""

    def expected_purchases_at(
        self, horizons: Sequence[float], x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> list[FloatArray]: ...


def discounted_clv(
    bgnbd_fit: PurchaseModel,
    gg_fit: GammaGammaFit,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary: npt.ArrayLike,
    *,
    months: int,
    monthly_discount: float,
    time_unit_days: float,
    margin: float = 1.0,
    cost_per_purchase: float = 0.0,
    days_per_month: float = DAYS_PER_MONTH,
) -> FloatArray:
    """Per-customer discounted value of the next `months` months, in the currency of monetary.

    bgnbd_fit: a BgNbdFit (or any PurchaseModel, e.g. a ParetoNbdFit).

    time_unit_days: the length in days of the unit recency and T (and the fit) use, e.g. 7 for
    weeks. margin: the share of spend kept; cost_per_purchase: a fixed cost per expected purchase
    (the result may be negative when it exceeds the margin).
    """
    if int(months) != months or months < 1:
        raise ValueError("months must be a positive whole number")
    if not np.isfinite(monthly_discount) or monthly_discount <= -1:
        raise ValueError("monthly_discount must be finite and above -1")
    if not (np.isfinite(time_unit_days) and time_unit_days > 0 and np.isfinite(days_per_month) and days_per_month > 0):
        raise ValueError("time_unit_days and days_per_month must be positive")
    if not (np.isfinite(margin) and np.isfinite(cost_per_purchase)):
        raise ValueError("margin and cost_per_purchase must be finite")
    x, t_x, age, spend_mean = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (frequency, recency, T, monetary))
    )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")
    value_per_purchase = margin * gg_fit.expected_spend(x, spend_mean) - cost_per_purchase
    # the discounted purchase count depends on (x, t_x, T) only: once per distinct row
    rows = unique_rows([x.reshape(-1), t_x.reshape(-1), age.reshape(-1)])
    step = days_per_month / time_unit_days
    cumulative = bgnbd_fit.expected_purchases_at([m * step for m in range(1, int(months) + 1)], *rows.columns)
    purchases = np.zeros(rows.counts.shape)
    previous = np.zeros(rows.counts.shape)
    for month, upto in enumerate(cumulative, start=1):
        # the expectation is non-decreasing in t; guard rounding so no month counts negative purchases
        purchases += np.maximum(upto - previous, 0.0) / (1.0 + monthly_discount) ** month
        previous = np.maximum(upto, previous)
    return np.asarray(purchases[rows.inverse].reshape(x.shape) * value_per_purchase)
