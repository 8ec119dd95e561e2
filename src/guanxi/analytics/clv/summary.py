"""From a transactions table to the per-customer summary the CLV models are fitted on.

Per customer, with purchases on the same calendar day merged into one (amounts summed):

* frequency: repeat purchase days (distinct purchase days minus one);
* recency: time from the first to the last purchase day;
* T: time from the first purchase day to the observation end (a date; purchases on it count);
* monetary: mean amount of the repeat purchase days (0 when frequency is 0); the first purchase
  is left out because the Gamma-Gamma model describes repeat spend.

Times are in days or weeks (days / 7, fractional, as in Fader, Hardie & Lee 2005). Timezone-aware
timestamps count by their own wall-clock day (convert them to the shop's zone first).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

TimeUnit = Literal["days", "weeks"]
UNIT_DAYS: dict[str, float] = {"days": 1.0, "weeks": 7.0}
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary")


def unit_days(time_unit: TimeUnit) -> float:
    if time_unit not in UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {sorted(UNIT_DAYS)}")
    return UNIT_DAYS[time_unit]


def _local_days(stamps: pd.Series) -> object:
    """Calendar days as naive midnights; aware timestamps keep their own wall-clock day."""
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    return stamps.dt.normalize().to_numpy()


def day_of(moment: object) -> pd.Timestamp:
    """A date or timestamp as the naive midnight of its calendar day."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def daily_purchases(
    transactions: pd.DataFrame, *, customer_col: str, datetime_col: str, amount_col: str | None
) -> pd.DataFrame:
    """One row per (customer, purchase day): columns customer, day (datetime64 at midnight), amount."""
    missing = [c for c in (customer_col, datetime_col, amount_col) if c is not None and c not in transactions]
    if missing:
        raise KeyError(f"transactions lack the columns {missing}")
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": _local_days(pd.to_datetime(transactions[datetime_col])),
            "amount": transactions[amount_col].astype("float64").to_numpy() if amount_col is not None else 0.0,
        }
    )
    return frame.groupby(["customer", "day"], as_index=False, sort=True)["amount"].sum()


def summarise_transactions(
    transactions: pd.DataFrame,
    *,
    observation_end: object,
    customer_col: str = "customer_id",
    datetime_col: str = "date",
    amount_col: str | None = "amount",
    time_unit: TimeUnit = "days",
) -> pd.DataFrame:
    """The summary frame (index: customer id; columns frequency, recency, T, monetary, first_purchase).

    Transactions after observation_end (a date or timestamp; its whole day counts) are ignored.
    """
    per_unit = unit_days(time_unit)
    end = day_of(observation_end)
    days = daily_purchases(transactions, customer_col=customer_col, datetime_col=datetime_col, amount_col=amount_col)
    days = days[days["day"] <= end]
    grouped = days.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    count = grouped["day"].count()
    total = grouped["amount"].sum()
    # first day's amount: rows are sorted by customer then day, so the first row per customer
    first_amount = grouped["amount"].first()
    frequency = (count - 1).astype("float64")
    repeat_total = total - first_amount
    monetary = np.where(frequency > 0, repeat_total / frequency.where(frequency > 0, 1.0), 0.0)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days / per_unit,
            "T": (end - first).dt.days / per_unit,
            "monetary": monetary,
            "first_purchase": first,
        }
    )
    summary.index.name = customer_col
    return summary


def calibration_holdout(
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    holdout_end: object,
    customer_col: str = "customer_id",
    datetime_col: str = "date",
    amount_col: str | None = "amount",
    time_unit: TimeUnit = "days",
) -> pd.DataFrame:
    """Calibration summary plus what each customer did in the holdout (calibration_end, holdout_end].

    Only customers whose first purchase is on or before calibration_end appear. Adds
    frequency_holdout (purchase days in the holdout), monetary_holdout (their mean amount, 0 if
    none) and duration_holdout (holdout length in time_unit, the same for everyone).
    """
    per_unit = unit_days(time_unit)
    cal_end = day_of(calibration_end)
    hold_end = day_of(holdout_end)
    if hold_end <= cal_end:
        raise ValueError("holdout_end must be after calibration_end")
    summary = summarise_transactions(
        transactions,
        observation_end=cal_end,
        customer_col=customer_col,
        datetime_col=datetime_col,
        amount_col=amount_col,
        time_unit=time_unit,
    )
    days = daily_purchases(transactions, customer_col=customer_col, datetime_col=datetime_col, amount_col=amount_col)
    holdout = days[(days["day"] > cal_end) & (days["day"] <= hold_end)].groupby("customer")["amount"]
    counts = holdout.count().reindex(summary.index, fill_value=0).astype("float64")
    means = holdout.mean().reindex(summary.index, fill_value=0.0)
    summary["frequency_holdout"] = counts
    summary["monetary_holdout"] = means.where(counts > 0, 0.0)
    summary["duration_holdout"] = (hold_end - cal_end).days / per_unit
    return summary
