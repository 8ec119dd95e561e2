"""Targets: goals an administrator sets for a KPI, and how far the brand is on the way.

A target names a metric (`METRICS`), a kind (`change`: reach the baseline changed by `value` %;
`at_least` / `at_most`: reach `value` itself) and a deadline. The baseline is the metric's value
when the target is set. Progress is the metric's current value, the value expected today on a
straight line from the baseline (on the day it was set) to the goal (on the deadline), and a
status: `reached` once the goal is met, `on_track` while the current value is at or past the
expected one, `behind` otherwise, `not_measured` while the metric has no value (NPS and
satisfaction until the service desk measures them, any metric before the first analytics run).

Values: rates are shares in [0, 1] (0.25 is 25 %), CLV and order value are CNY, data accuracy is
the data-quality report's average score (0-100). Rates and spend come from the last analytics
run (`queries`): the latest month of the KPIs, and the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics import queries
from guanxi.analytics.models import Target
from guanxi.auth.service import require
from guanxi.customers import quality
from guanxi.kit import clock
from guanxi.kit.errors import FieldError, NotFound, ValidationFailed
from guanxi.kit.ids import new_id
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy import audit

METRICS = (
    "churn_rate",
    "repeat_rate",
    "high_value_repeat_rate",
    "clv_average",
    "aov",
    "retention_rate",
    "data_accuracy",
    "nps",
    "satisfaction",
)
KINDS = ("change", "at_least", "at_most")
RATES = frozenset({"churn_rate", "repeat_rate", "high_value_repeat_rate", "retention_rate"})
NOT_MEASURED_YET = frozenset({"nps", "satisfaction"})  # the service desk will measure them
# The bounds of a goal's value per metric (at_least / at_most); a change is a percentage.
RANGES: dict[str, tuple[Decimal, Decimal]] = {
    **{metric: (Decimal(0), Decimal(1)) for metric in RATES},
    "clv_average": (Decimal(0), Decimal("1000000000")),
    "aov": (Decimal(0), Decimal("1000000000")),
    "data_accuracy": (Decimal(0), Decimal(100)),
    "nps": (Decimal(-100), Decimal(100)),
    "satisfaction": (Decimal(0), Decimal(100)),
}
CHANGE_RANGE = (Decimal(-100), Decimal(1000))
HIGH_VALUE_M = 4  # "high value": an M score of 4 or 5 (the top two spend quintiles)
PLACES = Decimal("0.0001")


class UnknownTarget(NotFound):
    code: ClassVar[str] = "target_not_found"
    title: ClassVar[str] = "No such target"


# -- measuring ---------------------------------------------------------------------------------


def _last_complete(frame: Any) -> Any:
    """The last complete month's row: a run's own month is still under way (its repeat rate of
    five days would set a baseline nobody could compare with), unless it is the only one."""
    return frame.iloc[-2] if len(frame) >= 2 else frame.iloc[-1]


def _latest_kpi(column: str) -> float | None:
    frame = queries.kpis(period="month")
    if frame.empty:
        return None
    value = _last_complete(frame)[column]
    return None if value is None or value != value else float(value)  # NaN is not a value


def _high_value_repeat_rate() -> float | None:
    """Of the high-value customers (M score 4 or 5) who bought in the last complete month, the
    share who bought on two days or more in it."""
    scores = queries.scores()
    valuable = set(scores.loc[scores["m_score"].fillna(0) >= HIGH_VALUE_M, "customer_id"])
    purchases = queries.purchases()
    if not valuable or purchases.empty:
        return None
    purchases = purchases[purchases["customer_id"].isin(valuable)].copy()
    months = pd.to_datetime(purchases["day"]).dt.to_period("M")
    ordered = sorted(months.unique())
    if not ordered:
        return None
    month = ordered[-2] if len(ordered) >= 2 else ordered[-1]
    days = purchases[months == month].groupby("customer_id")["day"].nunique()
    return None if days.empty else round(float((days >= 2).mean()), 4)


def _clv_average() -> float | None:
    values = queries.scores()["clv"].dropna()
    return None if values.empty else round(float(values.astype(float).mean()), 2)


def _data_accuracy(session: Session) -> float | None:
    # An aggregate with no personal data: read as the system, so that whoever may read the
    # targets sees it, whether or not their role opens the data-quality page.
    latest = quality.snapshots(session, SYSTEM, limit=1)
    return float(latest[0].average_score) if latest else None


MEASURES: dict[str, Callable[[], float | None]] = {
    "churn_rate": lambda: _latest_kpi("churn_rate"),
    "repeat_rate": lambda: _latest_kpi("repeat_rate"),
    "retention_rate": lambda: _latest_kpi("retention_rate"),
    "aov": lambda: _latest_kpi("aov"),
    "high_value_repeat_rate": _high_value_repeat_rate,
    "clv_average": _clv_average,
}


def measure(session: Session, metric: str) -> Decimal | None:
    """The metric's value now; None when it is not measured (yet)."""
    if metric in NOT_MEASURED_YET:
        return None
    if metric == "data_accuracy":
        value = _data_accuracy(session)
    else:
        try:
            value = MEASURES[metric]()
        except queries.NoRunYet:
            value = None
    return None if value is None else Decimal(str(value)).quantize(PLACES)


# -- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    goal: Decimal | None
    current: Decimal | None
    expected: Decimal | None
    status: str  # on_track | behind | reached | not_measured


def goal_of(target: Target) -> Decimal | None:
    if target.kind == "change":
        if target.baseline is None:
            return None
        return (Decimal(target.baseline) * (1 + Decimal(target.value) / 100)).quantize(PLACES)
    return Decimal(target.value)


def _upward(target: Target) -> bool:
    if target.kind == "change":
        return Decimal(target.value) >= 0
    return target.kind == "at_least"


def progress(target: Target, current: Decimal | None, today: date) -> Progress:
    goal = goal_of(target)
    expected = None
    if goal is not None and target.baseline is not None:
        span = (target.deadline - target.baseline_on).days
        share = Decimal(1) if span <= 0 else min(Decimal(1), Decimal(max(0, (today - target.baseline_on).days)) / span)
        base = Decimal(target.baseline)
        expected = (base + (goal - base) * share).quantize(PLACES)
    if current is None or goal is None:
        return Progress(goal, current, expected, "not_measured")
    up = _upward(target)
    if (current >= goal) if up else (current <= goal):
        status = "reached"
    elif expected is None:
        status = "behind"
    else:
        status = "on_track" if ((current >= expected) if up else (current <= expected)) else "behind"
    return Progress(goal, current, expected, status)


# -- the use cases -----------------------------------------------------------------------------


def _check(metric: str, kind: str, value: Decimal, deadline: date, today: date) -> None:
    errors: list[FieldError] = []
    low, high = CHANGE_RANGE if kind == "change" else RANGES[metric]
    if not low <= value <= high:
        errors.append(
            FieldError(
                "value",
                f"for this metric the value must be between {low} and {high}",
                "out_of_range",
                {"low": str(low), "high": str(high)},
                key="problem.analytics.target_range",
            )
        )
    if deadline <= today:
        errors.append(
            FieldError(
                "deadline", "the deadline must be after today", "too_early", key="problem.analytics.target_deadline"
            )
        )
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _no_baseline() -> ValidationFailed:
    message = "a change target needs a baseline, and this metric has no figure yet"
    return ValidationFailed(
        message=f"kind: {message}",
        errors=[FieldError("kind", message, "no_baseline", key="problem.analytics.target_no_baseline")],
    )


def create_target(
    session: Session, actor: Principal, *, metric: str, kind: str, value: Decimal, deadline: date, note: str = ""
) -> Target:
    require(actor, "analytics", "update")
    today = clock.today()
    _check(metric, kind, value, deadline, today)
    baseline = measure(session, metric)
    if kind == "change" and baseline is None and metric not in NOT_MEASURED_YET:
        raise _no_baseline()
    if kind == "change" and metric in RATES and baseline is not None and baseline * (1 + value / 100) > 1:
        message = "the goal would be a rate above 100 %"
        raise ValidationFailed(
            message=f"value: {message}",
            errors=[FieldError("value", message, "goal_above_one", key="problem.analytics.target_above_one")],
        )
    target = Target(
        id=new_id(),
        metric=metric,
        kind=kind,
        value=value,
        baseline=baseline,
        baseline_on=today,
        deadline=deadline,
        note=note,
        created_by=actor.id,
    )
    session.add(target)
    session.flush()
    audit.record(
        session,
        actor,
        "analytics.target.create",
        entity_type="analytics_target",
        entity_id=target.id,
        fields=["metric", "kind", "value", "deadline", *(["note"] if note else [])],
    )
    return target


def get_target(session: Session, actor: Principal, target_id: str) -> Target:
    require(actor, "analytics", "read")
    target = session.get(Target, target_id)
    if target is None:
        raise UnknownTarget(
            message=f"target {target_id} not found", key="problem.not_found.target", params={"id": target_id}
        )
    return target


def list_targets(session: Session, actor: Principal) -> list[Target]:
    require(actor, "analytics", "read")
    return list(session.scalars(select(Target).order_by(Target.deadline, Target.id)))


def update_target(session: Session, actor: Principal, target_id: str, changes: dict[str, Any]) -> Target:
    """Change the kind, value, deadline or note; the baseline stays the one measured when set."""
    require(actor, "analytics", "update")
    target = get_target(session, actor, target_id)
    kind = changes.get("kind", target.kind)
    value = changes.get("value", Decimal(target.value))
    deadline = changes.get("deadline", target.deadline)
    _check(target.metric, kind, value, deadline, clock.today())
    if kind == "change" and target.baseline is None and target.metric not in NOT_MEASURED_YET:
        raise _no_baseline()
    changed = [name for name, new in changes.items() if getattr(target, name) != new]
    for name in changed:
        setattr(target, name, changes[name])
    session.flush()
    if changed:
        audit.record(
            session,
            actor,
            "analytics.target.update",
            entity_type="analytics_target",
            entity_id=target.id,
            fields=changed,
        )
    return target


def delete_target(session: Session, actor: Principal, target_id: str) -> None:
    require(actor, "analytics", "update")
    target = get_target(session, actor, target_id)
    session.delete(target)
    session.flush()
    audit.record(session, actor, "analytics.target.delete", entity_type="analytics_target", entity_id=target_id)


def with_progress(session: Session, targets: list[Target]) -> list[tuple[Target, Progress]]:
    """Each target with its progress today; each metric measured once."""
    today = clock.today()
    values: dict[str, Decimal | None] = {}
    out = []
    for target in targets:
        if target.metric not in values:
            values[target.metric] = measure(session, target.metric)
        out.append((target, progress(target, values[target.metric], today)))
    return out
