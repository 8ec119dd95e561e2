"""How each order rule kind decides: the gates, the base and the bonuses on it.

`rules.evaluate_order` runs these in order and applies caps and `stop_further`; each function here
only proposes an outcome for one rule, so a rule outside its validity period can be asked what it
would have done without changing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from typing import Final

from guanxi.kit.calendar import HolidayCalendar
from guanxi.loyalty.rules.allocation import Rounding, allocate, round_points
from guanxi.loyalty.rules.definitions import (
    BaseRateRule,
    BirthdayBonusRule,
    CampaignMultiplierRule,
    CategoryMultiplierRule,
    ExclusionRule,
    MinimumOrderRule,
    Rule,
    TierMultiplierRule,
)
from guanxi.loyalty.rules.facts import Award, LineFacts, MemberFacts, OrderFacts
from guanxi.loyalty.rules.tiering import fmt

_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def pts(n: int, kind: str = "") -> str:
    """`1 point`, `1000 base points`."""
    word = f"{kind} point" if kind else "point"
    return f"{n} {word}" if abs(n) == 1 else f"{n} {word}s"


def label(rule: Rule) -> str:
    return f"rule {rule.code} ({rule.name})"


def _matches(line: LineFacts, categories: Sequence[str], skus: Sequence[str]) -> bool:
    return (line.category is not None and line.category in categories) or (line.sku is not None and line.sku in skus)


@dataclass
class OrderRun:
    order: OrderFacts
    member: MemberFacts
    calendar: HolidayCalendar
    excluded: frozenset[int] = frozenset()
    base: tuple[int, ...] | None = None
    base_rule: BaseRateRule | None = None

    @property
    def rounding(self) -> Rounding:
        return self.base_rule.rounding if self.base_rule else "floor"

    def base_of(self, lines: Sequence[int] | None = None) -> int:
        if self.base is None:
            return 0
        return sum(self.base[i] for i in (range(len(self.base)) if lines is None else lines))


@dataclass(frozen=True)
class Outcome:
    awards: tuple[Award, ...] = ()
    notes: tuple[str, ...] = ()
    block: bool = False
    exclude: frozenset[int] = frozenset()
    base: tuple[int, ...] | None = None

    @property
    def applied(self) -> bool:
        return self.block or bool(self.exclude) or any(a.points for a in self.awards)


def _minimum(rule: MinimumOrderRule, run: OrderRun) -> Outcome:
    order = run.order
    if order.currency != rule.currency:
        return Outcome(notes=(f"{label(rule)} counts {rule.currency}, the order is in {order.currency}: not checked",))
    if order.paid_amount >= rule.min_amount:
        return Outcome()
    return Outcome(
        block=True,
        notes=(
            f"the order paid {order.paid_amount} {order.currency}, below the {rule.min_amount} {rule.currency} "
            f"minimum of {label(rule)}: it earns no points",
        ),
    )


def _exclusion(rule: ExclusionRule, run: OrderRun) -> Outcome:
    lines = run.order.lines
    hits = frozenset(
        i for i, line in enumerate(lines) if i not in run.excluded and _matches(line, rule.categories, rule.skus)
    )
    if not hits:
        return Outcome()
    amount = sum((lines[i].amount for i in hits), Decimal(0))
    count = f"{len(hits)} line" if len(hits) == 1 else f"{len(hits)} lines"
    return Outcome(
        exclude=hits,
        notes=(f"{count} paying {amount} {run.order.currency} excluded by {label(rule)}: no points from any rule",),
    )


def _base_rate(rule: BaseRateRule, run: OrderRun) -> Outcome:
    order = run.order
    if run.base_rule is not None:
        return Outcome(notes=(f"{label(rule)} not used: {run.base_rule.code} already gave the base points",))
    if order.currency != rule.currency:
        return Outcome(notes=(f"{label(rule)} counts {rule.currency}, the order is in {order.currency}: not used",))
    eligible = [Decimal(0) if i in run.excluded else line.amount for i, line in enumerate(order.lines)]
    amount = sum(eligible, Decimal(0))
    points = round_points(amount * rule.points / rule.per_amount, rule.rounding)
    rate = f"{_pts_figure(rule.points)} per {fmt(rule.per_amount)} {rule.currency}"
    params = {
        **rule.names(),
        "amount": str(amount),
        "currency": order.currency,
        "rate_points": fmt(rule.points),
        "per_amount": fmt(rule.per_amount),
        "points": str(points),
    }
    notes: tuple[str, ...] = ()
    if points == 0 and amount > 0:
        notes = (f"{label(rule)}: {amount} {order.currency} earns less than 1 point at {rate}",)
    award = Award(
        rule.code, rule.kind, points, f"{rule.name}: {amount} {order.currency} at {rate} = {pts(points)}", params
    )
    return Outcome(awards=(award,) if points else (), notes=notes, base=tuple(allocate(points, eligible)))


def _pts_figure(points: Decimal) -> str:
    return f"{fmt(points)} point" if points == 1 else f"{fmt(points)} points"


def _bonus(
    rule: Rule, run: OrderRun, base: int, multiplier: Decimal, what: str, params: dict[str, str]
) -> Award | None:
    points = round_points(base * (multiplier - 1), run.rounding)
    if points == 0:
        return None
    word = "bonus" if points > 0 else "fewer"
    shown = abs(points)
    description = f"{rule.name}: {what} ×{fmt(multiplier)} on {pts(base, 'base')} = {shown} {word} points"
    figures = {**rule.names(), "multiplier": fmt(multiplier), "base": str(base), "points": str(points), **params}
    return Award(rule.code, rule.kind, points, description, figures)


def _eligible_lines(run: OrderRun) -> list[int]:
    return [i for i in range(len(run.order.lines)) if i not in run.excluded]


def _tier(rule: TierMultiplierRule, run: OrderRun) -> Outcome:
    member = run.member
    tier = member.tier_code or "none"
    award = _bonus(rule, run, run.base_of(), member.tier_multiplier, f"tier {tier}", {"tier": tier})
    return Outcome(awards=(award,) if award else ())


def _category(rule: CategoryMultiplierRule, run: OrderRun) -> Outcome:
    lines = [i for i in _eligible_lines(run) if _matches(run.order.lines[i], rule.categories, rule.skus)]
    if not lines:
        return Outcome()
    what = f"{len(lines)} matching line" if len(lines) == 1 else f"{len(lines)} matching lines"
    award = _bonus(rule, run, run.base_of(lines), rule.multiplier, what, {"lines": str(len(lines))})
    return Outcome(awards=(award,) if award else ())


def _within(at: time, start: time, end: time) -> bool:
    return start <= at < end if start < end else (at >= start or at < end)


def _campaign_reason(
    rule: CampaignMultiplierRule, order: OrderFacts, calendar: HolidayCalendar
) -> tuple[str, dict[str, str]] | None:
    """Why the campaign applies, in English and as parts (weekday 1-7, date, holiday, start and
    end) that `loyalty.explain` says in the reader's language."""
    parts: list[str] = []
    figures: dict[str, str] = {}
    day = order.local_date
    if rule.weekdays or rule.dates or rule.holidays:
        if day.isoweekday() in rule.weekdays:
            parts.append(_WEEKDAYS[day.isoweekday() - 1])
            figures["weekday"] = str(day.isoweekday())
        elif day in rule.dates:
            parts.append(day.isoformat())
            figures["date"] = day.isoformat()
        elif rule.holidays and calendar.is_holiday(day):
            name = calendar.holiday_name(day)
            parts.append(f"public holiday {name}")
            figures["holiday"] = str(name)
            figures["holiday_en"] = str(calendar.holiday_name(day, "en") or name)
        else:
            return None
    if rule.start_time is not None and rule.end_time is not None:
        if not _within(order.local_time, rule.start_time, rule.end_time):
            return None
        parts.append(f"{rule.start_time:%H:%M}-{rule.end_time:%H:%M}")
        figures["start"], figures["end"] = f"{rule.start_time:%H:%M}", f"{rule.end_time:%H:%M}"
    return ", ".join(parts) or "campaign period", figures


def _campaign(rule: CampaignMultiplierRule, run: OrderRun) -> Outcome:
    found = _campaign_reason(rule, run.order, run.calendar)
    if found is None:
        return Outcome()
    reason, figures = found
    award = _bonus(rule, run, run.base_of(), rule.multiplier, reason, {"condition": reason, **figures})
    return Outcome(awards=(award,) if award else ())


def _birthday(rule: BirthdayBonusRule, run: OrderRun) -> Outcome:
    birthday = run.member.birthday
    if birthday is None or birthday.month != run.order.local_date.month:
        return Outcome()
    base = run.base_of()
    extra = round_points(base * (rule.multiplier - 1), run.rounding)
    gift, notes = rule.bonus_points, tuple[str, ...]()
    if gift and rule.bonus_once and rule.code in run.member.birthday_bonus_taken:
        gift, notes = 0, (f"{label(rule)}: the {rule.bonus_points} birthday points were already given this month",)
    parts = [f"birthday month ×{fmt(rule.multiplier)} on {pts(base, 'base')} = {extra} bonus points"] if extra else []
    parts += [f"{gift} birthday points"] if gift else []
    if not parts:
        return Outcome(notes=notes)
    params = {
        **rule.names(),
        "multiplier": fmt(rule.multiplier),
        "base": str(base),
        "bonus": str(extra),
        "birthday_points": str(gift),
        "points": str(extra + gift),
    }
    award = Award(rule.code, rule.kind, extra + gift, f"{rule.name}: {' plus '.join(parts)}", params)
    return Outcome(awards=(award,), notes=notes)


def order_outcome(rule: Rule, run: OrderRun) -> Outcome:
    if isinstance(rule, MinimumOrderRule):
        return _minimum(rule, run)
    if isinstance(rule, ExclusionRule):
        return _exclusion(rule, run)
    if isinstance(rule, BaseRateRule):
        return _base_rate(rule, run)
    if isinstance(rule, BirthdayBonusRule):  # its fixed points need no base
        return _birthday(rule, run)
    if run.base is None:
        return Outcome()
    if isinstance(rule, TierMultiplierRule):
        return _tier(rule, run)
    if isinstance(rule, CategoryMultiplierRule):
        return _category(rule, run)
    if isinstance(rule, CampaignMultiplierRule):
        return _campaign(rule, run)
    raise AssertionError(f"{rule.kind} is not an order rule")
