"""What the rule engine is told (facts) and what it answers (awards with their explanation).

Facts check themselves on construction: a float amount, a naive time zone mix-up or lines that do not
add up to the paid amount are caller bugs that would silently give wrong points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final

_SLUG: Final = re.compile(r"^[a-z0-9_-]{1,40}$")


def _amount(value: object, what: str) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite amount of 0 or more, not {value}")


def _count(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number of 0 or more, not {value!r}")


def _day(value: object, what: str) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a local date, not {type(value).__name__}")


@dataclass(frozen=True)
class LineFacts:
    sku: str | None
    category: str | None
    quantity: int
    amount: Decimal  # the line's share of the paid amount

    def __post_init__(self) -> None:
        _count(self.quantity, "a line's quantity")
        _amount(self.amount, "a line's amount")


@dataclass(frozen=True)
class OrderFacts:
    paid_amount: Decimal
    currency: str
    local_date: date
    local_time: time
    channel: str | None
    store: str | None
    lines: tuple[LineFacts, ...]  # one line without sku/category for an order without lines

    def __post_init__(self) -> None:
        _amount(self.paid_amount, "paid_amount")
        _day(self.local_date, "local_date")
        if not isinstance(self.local_time, time) or self.local_time.tzinfo is not None:
            raise TypeError("local_time must be a local time without a zone")
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError("an order needs at least one line: pass one without sku or category")
        total = sum((line.amount for line in self.lines), Decimal(0))
        if total != self.paid_amount:
            raise ValueError(f"the lines add up to {total}, the order paid {self.paid_amount}")


@dataclass(frozen=True)
class MemberFacts:
    tier_code: str | None = None
    tier_multiplier: Decimal = Decimal(1)
    birthday: date | None = None
    earned_today: int = 0  # points from all earning today (local day), before this evaluation
    earned_by_rule: Mapping[str, int] = field(default_factory=dict)  # points per rule code, ever
    checkin_streak: int = 0  # consecutive check-in days including today's
    earned_today_by_rule: Mapping[str, int] = field(default_factory=dict)  # points per rule code today
    # Birthday rules whose bonus_points the member already had this birthday month.
    birthday_bonus_taken: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.tier_multiplier, Decimal) or not self.tier_multiplier.is_finite():
            raise TypeError("tier_multiplier must be a finite Decimal")
        if self.tier_multiplier <= 0:
            raise ValueError("tier_multiplier must be greater than 0")
        if self.birthday is not None:
            _day(self.birthday, "birthday")
        _count(self.earned_today, "earned_today")
        _count(self.checkin_streak, "checkin_streak")
        for name in ("earned_by_rule", "earned_today_by_rule"):
            for code, points in getattr(self, name).items():
                _count(points, f"{name}[{code!r}]")


@dataclass(frozen=True)
class ActionFacts:
    action: str
    local_date: date
    channel: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.action, str) or not _SLUG.match(self.action):
            raise ValueError(f"an action is a slug of a-z, 0-9, _ and -, not {self.action!r}")
        _day(self.local_date, "local_date")


@dataclass(frozen=True)
class Award:
    rule_code: str
    kind: str  # the rule's kind; "streak_bonus" for a check-in streak's extra points
    points: int
    description: str  # one English sentence with the figures
    params: dict[str, str]  # the figures as strings, for translation
    trimmed: int = 0  # points a cap took off this award (already out of `points`)


@dataclass(frozen=True)
class Evaluation:
    points: int
    awards: tuple[Award, ...]
    notes: tuple[str, ...]  # what earned nothing or less, and why
    base_by_line: tuple[int, ...] = ()  # base points per order line, before caps (empty for actions)
