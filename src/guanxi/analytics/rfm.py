"""RFM: recency, frequency and monetary quintile scores, the R×F segment map, weighted scores.

Scores are quintiles of the customers who bought in the window (1 worst, 5 best). Ties are
handled deterministically and fairly: a customer's score comes from the lowest rank of their
value (`percent_rank`), so customers with the same value always share a score, whatever order the
engine reads them in. Recency scores the other way round (fewer days is better).

The segment map is the common R×F grid (Champions … Hibernating); a brand can replace it with its
own rules (first match wins), each a range of R, F and optionally M scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator


class SegmentRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: str = Field(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)

    @model_validator(mode="after")
    def _ranges(self) -> SegmentRule:
        for name in ("r", "f", "m"):
            low, high = getattr(self, name)
            if not 1 <= low <= high <= 5:
                raise ValueError(f"{name} must be a range within 1..5 with low ≤ high")
        return self


# The standard R×F map: every one of the 25 cells belongs to exactly one segment.
STANDARD_MAP: tuple[SegmentRule, ...] = (
    SegmentRule(segment="champions", r=(5, 5), f=(4, 5)),
    SegmentRule(segment="loyal", r=(3, 4), f=(4, 5)),
    SegmentRule(segment="potential_loyalists", r=(4, 5), f=(2, 3)),
    SegmentRule(segment="new", r=(5, 5), f=(1, 1)),
    SegmentRule(segment="promising", r=(4, 4), f=(1, 1)),
    SegmentRule(segment="need_attention", r=(3, 3), f=(3, 3)),
    SegmentRule(segment="about_to_sleep", r=(3, 3), f=(1, 2)),
    SegmentRule(segment="cant_lose", r=(1, 2), f=(5, 5)),
    SegmentRule(segment="at_risk", r=(1, 2), f=(3, 4)),
    SegmentRule(segment="hibernating", r=(1, 2), f=(1, 2)),
)
SEGMENTS = tuple(rule.segment for rule in STANDARD_MAP)
OTHER = "other"  # a cell no custom rule covers


@dataclass(frozen=True)
class Weights:
    r: float
    f: float
    m: float


# Industry presets for the weighted RFM score (our choice, documented in docs/analytics.md):
# fast-moving goods live on repeat visits, durables on the size of a rare purchase, B2B on a few
# large orders.
PRESETS: dict[str, Weights] = {
    "balanced": Weights(1 / 3, 1 / 3, 1 / 3),
    "fmcg": Weights(0.3, 0.5, 0.2),
    "durables": Weights(0.3, 0.2, 0.5),
    "b2b": Weights(0.3, 0.1, 0.6),
}


def quintile(value: ir.NumericColumn, *, descending: bool = False) -> ir.IntegerColumn:
    """1..5 from the value's percent rank among the rows (ties share the lowest rank)."""
    order = ibis.desc(value) if descending else value
    rank = ibis.percent_rank().over(order_by=order)
    return ibis.least(5, (rank * 5).floor().cast("int64") + 1).cast("int16")


def scores(behaviour: ir.Table, *, weights: Weights = PRESETS["balanced"]) -> ir.Table:
    """R, F, M and the weighted score for customers who bought in the window."""
    buyers = behaviour.filter(behaviour.frequency > 0)
    scored = buyers.mutate(
        r_score=quintile(buyers.recency_days, descending=True),
        f_score=quintile(buyers.frequency),
        m_score=quintile(buyers.monetary),
    )
    return scored.mutate(
        rfm_score=(scored.r_score * weights.r + scored.f_score * weights.f + scored.m_score * weights.m).round(3)
    )


def segment_of(table: ir.Table, rules: Sequence[SegmentRule] = STANDARD_MAP) -> ir.StringValue:
    """The first rule whose ranges hold the row's scores; `other` when none does."""
    cases = [
        (
            table.r_score.between(rule.r[0], rule.r[1])
            & table.f_score.between(rule.f[0], rule.f[1])
            & table.m_score.between(rule.m[0], rule.m[1]),
            rule.segment,
        )
        for rule in rules
    ]
    return ibis.cases(*cases, else_=OTHER)


def with_segments(scored: ir.Table, rules: Sequence[SegmentRule] = STANDARD_MAP) -> ir.Table:
    return scored.mutate(rfm_segment=segment_of(scored, rules))
