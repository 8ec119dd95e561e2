"""The demo brand's goals, as its CRM plan sets them (seeds/): churn −30 % in 6 months, the
repurchase rate of high-value customers +40 %, satisfaction ≥ 90/100, NPS +25 %, lifetime value
+35 % in a year, customer data accuracy above 95 %.

Set through the targets service after the demo's first analytics run, so each has its baseline.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from guanxi.analytics import targets
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import ValidationFailed
from guanxi.kit.principal import SYSTEM

# (metric, kind, value, months to the deadline, note)
PLAN: tuple[tuple[str, str, str, int, str], ...] = (
    ("churn_rate", "change", "-30", 6, "流失率 6 个月内下降 30%"),
    ("high_value_repeat_rate", "change", "40", 12, "高价值客户复购率提升 40%"),
    ("satisfaction", "at_least", "90", 12, "客户满意度达到 90 分"),
    ("nps", "change", "25", 12, "NPS 提升 25%"),
    ("clv_average", "change", "35", 12, "客户终身价值一年内提升 35%"),
    ("data_accuracy", "at_least", "95", 6, "客户数据准确率高于 95%"),
)


def _months_after(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


def set_plan(database: Database) -> int:
    """Set the plan's targets once (a rerun of the demo finds them and sets none). A change
    target whose metric has no figure yet (a demo without orders) is left out."""
    today = clock.today()
    with database.unit_of_work(read_only=True) as session:
        if targets.list_targets(session, SYSTEM):
            return 0
    made = 0
    for metric, kind, value, months, note in PLAN:
        try:
            with database.unit_of_work() as session:
                targets.create_target(
                    session,
                    SYSTEM,
                    metric=metric,
                    kind=kind,
                    value=Decimal(value),
                    deadline=_months_after(today, months),
                    note=note,
                )
            made += 1
        except ValidationFailed:
            continue
    return made
