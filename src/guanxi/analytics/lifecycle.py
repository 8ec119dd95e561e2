"""Lifecycle stages and value tiers.

Stages, checked in this order:
- prospect: registered, never bought;
- new: first purchase within `new_days`;
- won_back: bought again after a gap longer than the dormant threshold, and still active;
- active / at_risk / dormant (沉睡) / churned: by days since the last purchase against three
  thresholds, either fixed days or multiples of the customer's own purchase cycle (the mean days
  between their purchases; the population's median cycle for who bought once), kept within
  `min_days`..`max_days` so a daily buyer is not "at risk" after a weekend.

Value tiers combine value (the monetary and CLV ranks), loyalty (frequency) and risk (the churn
band and the stage): churn_warning first (valuable customers slipping away), then core, potential,
basic.
"""

from __future__ import annotations

from typing import Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator

STAGES = ("prospect", "new", "active", "at_risk", "dormant", "churned", "won_back")
VALUE_TIERS = ("core", "potential", "basic", "churn_warning")


class LifecycleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["fixed", "relative"] = "relative"
    new_days: int = Field(default=30, ge=1, le=365)
    # fixed: days since the last purchase
    at_risk_days: int = Field(default=90, ge=1, le=3650)
    dormant_days: int = Field(default=180, ge=1, le=3650)
    churned_days: int = Field(default=365, ge=1, le=3650)
    # relative: multiples of the customer's own cycle
    at_risk_cycles: float = Field(default=2.0, gt=0, le=50)
    dormant_cycles: float = Field(default=4.0, gt=0, le=50)
    churned_cycles: float = Field(default=8.0, gt=0, le=50)
    min_days: int = Field(default=30, ge=1, le=3650)
    max_days: int = Field(default=730, ge=1, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if not self.at_risk_days < self.dormant_days < self.churned_days:
            raise ValueError("at_risk_days < dormant_days < churned_days is required")
        if not self.at_risk_cycles < self.dormant_cycles < self.churned_cycles:
            raise ValueError("at_risk_cycles < dormant_cycles < churned_cycles is required")
        if self.min_days >= self.max_days:
            raise ValueError("min_days < max_days is required")
        return self


def _threshold(cycle: ir.FloatingValue, multiple: float, days: int, settings: LifecycleSettings) -> ir.NumericValue:
    if settings.mode == "fixed":
        return ibis.literal(float(days))
    return ibis.greatest(settings.min_days, ibis.least(settings.max_days, cycle * multiple))


def stages(behaviour: ir.Table, last_gaps: ir.Table, median_cycle: float, settings: LifecycleSettings) -> ir.Table:
    """`lifecycle_stage` for every buyer in `behaviour` (prospects are the customers absent from it).

    `last_gaps` holds each customer's days between their last two purchase days (`last_gap`)."""
    b = behaviour.left_join(last_gaps, "customer_id").select(behaviour, last_gaps.last_gap)
    cycle = b.mean_cycle_days.fill_null(median_cycle)
    at_risk = _threshold(cycle, settings.at_risk_cycles, settings.at_risk_days, settings)
    dormant = _threshold(cycle, settings.dormant_cycles, settings.dormant_days, settings)
    churned = _threshold(cycle, settings.churned_cycles, settings.churned_days, settings)
    recency = b.recency_days
    # Won back: the gap before the last purchase was longer than the dormant threshold of the
    # cycle the customer kept before it (the long gap itself must not stretch their cycle).
    span = b.tenure_days - b.recency_days
    prior_cycle = (b.purchase_days > 2).ifelse((span - b.last_gap.fill_null(0)) / (b.purchase_days - 2), median_cycle)
    prior_dormant = _threshold(prior_cycle, settings.dormant_cycles, settings.dormant_days, settings)
    stage = ibis.cases(
        (b.tenure_days < settings.new_days, "new"),
        (recency > churned, "churned"),
        (recency > dormant, "dormant"),
        (recency > at_risk, "at_risk"),
        (b.last_gap.fill_null(0) > prior_dormant, "won_back"),
        else_="active",
    )
    return b.mutate(lifecycle_stage=stage, cycle_days=cycle, at_risk_after=at_risk)


def last_gaps(customer_days: ir.Table) -> ir.Table:
    """Days between each customer's last two purchase days."""
    d = customer_days
    ranked = d.mutate(
        previous=d.day.lag().over(group_by=d.customer_id, order_by=d.day),
        position=ibis.row_number().over(group_by=d.customer_id, order_by=ibis.desc(d.day)),
    )
    last = ranked.filter(ranked.position == 0, ranked.previous.notnull())
    return last.select("customer_id", last_gap=last.day.delta(last.previous, unit="day"))


def value_tier(
    *,
    m_score: int | None,
    f_score: int | None,
    clv_rank: float | None,
    stage: str,
    churn_band: str | None,
) -> str:
    """core / potential / basic / churn_warning for one customer (ranks are 0..1, 1 best)."""
    valuable = (m_score or 0) >= 4 or (clv_rank is not None and clv_rank >= 0.8)
    slipping = churn_band == "high" or stage in ("at_risk", "dormant")
    if valuable and slipping:
        return "churn_warning"
    if valuable and (f_score or 0) >= 4:
        return "core"
    if valuable or (f_score or 0) >= 3 or (clv_rank is not None and clv_rank >= 0.6) or stage == "new":
        return "potential"
    return "basic"
