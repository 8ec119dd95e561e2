"""What each member got from each earning rule, per local day: the memory behind daily and
campaign caps. Read only when some rule has a cap, written with every award."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.loyalty.program.models import RuleUsage
from guanxi.loyalty.rules import engine as rules

ALL = "*"


def needs_usage(rule_set: Sequence[rules.Rule]) -> bool:
    """Whether any rule's outcome depends on what the member already earned (caps, once-a-month
    birthday bonus points); when none does, orders skip reading the usage rows."""
    return any(
        getattr(rule, "daily_cap", None) is not None
        or getattr(rule, "campaign_cap", None) is not None
        or rule.kind == "daily_cap"
        or (rule.kind == "birthday_bonus" and getattr(rule, "bonus_points", 0))
        for rule in rule_set
    )


@dataclass(frozen=True)
class Usage:
    earned_today: int
    today_by_rule: dict[str, int]
    ever_by_rule: dict[str, int]
    rules_this_month: frozenset[str]


def read(session: Session, account_id: str, day: date) -> Usage:
    today: dict[str, int] = {}
    ever: dict[str, int] = {}
    month: set[str] = set()
    rows = session.execute(
        select(RuleUsage.rule_code, RuleUsage.day, RuleUsage.points).where(RuleUsage.account_id == account_id)
    ).all()
    for code, row_day, points in rows:
        ever[code] = ever.get(code, 0) + int(points)
        if row_day == day:
            today[code] = int(points)
        if (row_day.year, row_day.month) == (day.year, day.month) and points:
            month.add(code)
    return Usage(
        earned_today=today.pop(ALL, 0),
        today_by_rule=today,
        ever_by_rule={k: v for k, v in ever.items() if k != ALL},
        rules_this_month=frozenset(month - {ALL}),
    )


def record(
    session: Session, account_id: str, day: date, awards: Sequence[rules.Award], rule_set: Sequence[rules.Rule]
) -> None:
    """Remember the awards while some rule of the program needs them (a rule added later counts
    from its own start: caps and once-a-month bonuses look at today, this month or the rule's
    own awards, all of which begin after the rule exists)."""
    if not needs_usage(rule_set):
        return
    per_rule: dict[str, int] = {}
    for award in awards:
        if award.points:
            per_rule[award.rule_code] = per_rule.get(award.rule_code, 0) + award.points
    total = sum(per_rule.values())
    if total == 0:
        return
    per_rule[ALL] = total
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # One statement for every rule of the award: it is on the path of every order.
    stmt = insert(RuleUsage).values(
        [
            {"account_id": account_id, "rule_code": code, "day": day, "points": points}
            for code, points in per_rule.items()
        ]
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "rule_code", "day"],
            set_={"points": RuleUsage.points + stmt.excluded.points},
        )
    )
