"""Tier ladder decisions: which tier a value qualifies for, upgrades, periodic reviews, progress.

The value is growth value (成长值) or qualifying spend over the program's window; the caller decides
which and passes it in. Upgrades are immediate and may skip levels. Downgrades happen only at a
review: a member keeps a tier while the value stays at or above its threshold (maintenance), and
otherwise drops to the tier the value qualifies for, or one rank at a time. `grace_days` is for the
caller: how long after a review a downgrade waits for the member to re-qualify.

Every function validates the ladder first, so a broken ladder fails loudly instead of deciding.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any, Final, Literal

from guanxi.kit.errors import FieldError, ValidationFailed

DROPS: Final = ("to_qualified", "one_level")
MAX_GRACE_DAYS: Final = 366
_RATIO_STEP: Final = Decimal("0.0001")


class LadderError(ValidationFailed):
    """A ladder or policy that cannot decide anything, with the field at fault (`tiers[2].threshold`)."""

    code = "invalid_tier_ladder"

    def __init__(self, field: str, message: str, key: str | None = None, **params: object) -> None:
        """`key` names the catalog message (`loyalty.ladder.<key>`) that says it with `params`."""
        error = FieldError(field, message, params=params, key=key and f"loyalty.ladder.{key}")
        super().__init__(message=f"{field}: {message}", errors=[error])
        self.field = field


@dataclass(frozen=True)
class TierDef:
    code: str
    name: str
    rank: int
    threshold: Decimal
    points_multiplier: Decimal = Decimal(1)
    is_core: bool = False


class ReviewMode(StrEnum):
    ANNUAL = "annual"  # every Jan 1
    ANNIVERSARY = "anniversary"  # the member's enrolment anniversary
    FIXED_DATE = "fixed_date"  # `month`/`day` every year


@dataclass(frozen=True)
class ReviewPolicy:
    mode: ReviewMode = ReviewMode.ANNUAL
    month: int = 1
    day: int = 1
    grace_days: int = 30
    drop: str = "to_qualified"  # or "one_level"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", ReviewMode(self.mode))
        except ValueError as exc:
            raise LadderError(
                "review.mode", f"unknown review mode {self.mode!r}", "review_mode", mode=repr(self.mode)
            ) from exc
        if not 1 <= self.month <= 12:
            raise LadderError("review.month", "must be between 1 and 12", "review_month")
        # Checked against a leap year: a Feb 29 review date falls on Feb 28 in other years.
        if not 1 <= self.day <= calendar.monthrange(2000, self.month)[1]:
            raise LadderError(
                "review.day", f"month {self.month} has no day {self.day}", "review_day", month=self.month, day=self.day
            )
        if not 0 <= self.grace_days <= MAX_GRACE_DAYS:
            raise LadderError(
                "review.grace_days", f"must be between 0 and {MAX_GRACE_DAYS}", "grace_days", max=MAX_GRACE_DAYS
            )
        if self.drop not in DROPS:
            raise LadderError("review.drop", f"must be one of {', '.join(DROPS)}", "drop", allowed=", ".join(DROPS))


@dataclass(frozen=True)
class TierDecision:
    kind: Literal["upgrade", "keep", "downgrade"]
    tier: TierDef
    reason: str  # one English sentence with the figures (kept for the API and old readers)
    value: Decimal
    # The figures as strings, tiers by code, for `loyalty.explain` to say it in any language.
    params: dict[str, str] = field(default_factory=dict)
    code: str = ""  # the reason's catalog code: tier.reached, tier.maintained, tier.lowest, tier.below

    @property
    def detail(self) -> dict[str, Any]:
        """What a tier change row keeps in `detail`."""
        return reason_detail(self.code, **self.params)


def reason_detail(code: str, **params: str) -> dict[str, Any]:
    """A tier change's reason as stored: a catalog code (`loyalty.tier_reason.<code>`) and its figures."""
    return {"code": code, "params": dict(params)}


@dataclass(frozen=True)
class TierProgress:
    current: TierDef
    next: TierDef | None
    value: Decimal
    needed: Decimal  # still to earn for `next`; 0 at the top or once reached
    ratio: Decimal  # 0..1 of the way from the current threshold to the next


def fmt(value: Decimal) -> str:
    """A figure as people write it: 5000, 5200.5, never 5E+3 or 5200.50."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def validate_ladder(tiers: Sequence[TierDef]) -> None:
    """Raise LadderError naming the first field that makes the ladder unusable."""
    if not tiers:
        raise LadderError("tiers", "a ladder needs at least one tier", "empty")
    codes: dict[str, int] = {}
    ranks: dict[int, int] = {}
    for i, tier in enumerate(tiers):
        where = f"tiers[{i}]"
        if not isinstance(tier.code, str) or not tier.code.strip():
            raise LadderError(f"{where}.code", "must not be empty", "required")
        if not isinstance(tier.name, str) or not tier.name.strip():
            raise LadderError(f"{where}.name", "must not be empty", "required")
        if isinstance(tier.rank, bool) or not isinstance(tier.rank, int):
            raise LadderError(f"{where}.rank", "must be a whole number", "whole_number")
        for name in ("threshold", "points_multiplier"):
            figure = getattr(tier, name)
            if not isinstance(figure, Decimal) or not figure.is_finite():
                raise LadderError(f"{where}.{name}", "must be a finite Decimal", "finite")
            if figure < 0:
                raise LadderError(f"{where}.{name}", "must not be negative", "negative")
        if tier.points_multiplier == 0:
            raise LadderError(f"{where}.points_multiplier", "must be greater than 0", "positive")
        if tier.code in codes:
            raise LadderError(
                f"{where}.code",
                f"duplicates the code of tiers[{codes[tier.code]}]",
                "duplicate_code",
                row=codes[tier.code] + 1,
            )
        if tier.rank in ranks:
            raise LadderError(
                f"{where}.rank",
                f"duplicates the rank of tiers[{ranks[tier.rank]}]",
                "duplicate_rank",
                row=ranks[tier.rank] + 1,
            )
        codes[tier.code] = i
        ranks[tier.rank] = i
    order = sorted(range(len(tiers)), key=lambda i: tiers[i].rank)
    if tiers[order[0]].threshold != 0:
        raise LadderError(f"tiers[{order[0]}].threshold", "the lowest tier's threshold must be 0", "lowest_zero")
    for below, above in itertools.pairwise(order):
        if tiers[above].threshold <= tiers[below].threshold:
            raise LadderError(
                f"tiers[{above}].threshold",
                f"must be above {fmt(tiers[below].threshold)}, the threshold of the lower tier {tiers[below].code}",
                "rising",
                threshold=fmt(tiers[below].threshold),
                tier=tiers[below].name,
            )


def _ladder(tiers: Sequence[TierDef]) -> list[TierDef]:
    validate_ladder(tiers)
    return sorted(tiers, key=lambda t: t.rank)


def _find(ladder: Sequence[TierDef], code: str) -> TierDef:
    for tier in ladder:
        if tier.code == code:
            return tier
    raise LadderError("current_code", f"no tier with code {code!r} in the ladder", "no_tier", code=repr(code))


def _value(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError("a tier value is a Decimal or an int, not float")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError("a tier value must be finite")
    return value


def _qualified(ladder: Sequence[TierDef], value: Decimal) -> TierDef:
    best = ladder[0]
    for tier in ladder:
        if tier.threshold <= value:
            best = tier
    return best


def qualified_tier(tiers: Sequence[TierDef], value: Decimal | int) -> TierDef:
    """The highest tier whose threshold the value reaches (the lowest tier for any value below 0)."""
    return _qualified(_ladder(tiers), _value(value))


def _figures(basis: str, value: Decimal, tier: TierDef) -> dict[str, str]:
    return {"basis": basis, "value": fmt(value), "tier": tier.code, "threshold": fmt(tier.threshold)}


def _reached(label: str, basis: str, value: Decimal, tier: TierDef) -> TierDecision:
    reason = f"{label} {fmt(value)} reached {tier.name} threshold {fmt(tier.threshold)}"
    return TierDecision("upgrade", tier, reason, value, _figures(basis, value, tier), "reached")


def upgrade(
    tiers: Sequence[TierDef],
    current_code: str | None,
    value: Decimal | int,
    *,
    label: str = "growth value",
    basis: str = "growth_value",
) -> TierDecision | None:
    """An upgrade when the value qualifies for a higher rank than the current tier (None otherwise).
    A member without a tier gets the tier they qualify for, even the lowest."""
    ladder = _ladder(tiers)
    amount = _value(value)
    target = _qualified(ladder, amount)
    if current_code is not None and target.rank <= _find(ladder, current_code).rank:
        return None
    return _reached(label, basis, amount, target)


def review(
    tiers: Sequence[TierDef],
    current_code: str | None,
    value: Decimal | int,
    policy: ReviewPolicy,
    *,
    label: str = "growth value",
    basis: str = "growth_value",
) -> TierDecision:
    """The periodic review: keep the tier while the value holds its threshold, otherwise step down
    to the qualified tier or one rank (never below the qualified tier). A review also catches up an
    upgrade the member qualifies for but has not had."""
    ladder = _ladder(tiers)
    amount = _value(value)
    qualified = _qualified(ladder, amount)
    if current_code is None or qualified.rank > _find(ladder, current_code).rank:
        return _reached(label, basis, amount, qualified)
    current = _find(ladder, current_code)
    params = _figures(basis, amount, current)
    if amount >= current.threshold:
        reason = f"{label} {fmt(amount)} maintained {current.name} threshold {fmt(current.threshold)}"
        return TierDecision("keep", current, reason, amount, params, "maintained")
    if current is ladder[0]:  # below 0 after refunds: there is no lower tier
        return TierDecision("keep", current, f"{current.name} is the lowest tier", amount, params, "lowest")
    if policy.drop == "one_level":
        below = [t for t in ladder if t.rank < current.rank]
        target = max(below[-1], qualified, key=lambda t: t.rank)
    else:
        target = qualified
    params["to_tier"] = target.code
    return TierDecision(
        "downgrade",
        target,
        f"{label} {fmt(amount)} is below {current.name} threshold {fmt(current.threshold)}: down to {target.name}",
        amount,
        params,
        "below",
    )


def _on(year: int, month: int, day: int) -> date:
    """month/day in `year`, Feb 29 falling on Feb 28 outside leap years."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_review_date(policy: ReviewPolicy, *, enrolled_on: date, after: date) -> date:
    """The first review date strictly after both `after` and the enrolment day.

    Anniversary reviews fall on the enrolment month and day (Feb 29 -> Feb 28 in other years), the
    first one a year after enrolment."""
    floor = max(after, enrolled_on)
    if policy.mode is ReviewMode.ANNUAL:
        month, day = 1, 1
    elif policy.mode is ReviewMode.FIXED_DATE:
        month, day = policy.month, policy.day
    else:
        month, day = enrolled_on.month, enrolled_on.day
    year = floor.year
    while (candidate := _on(year, month, day)) <= floor:
        year += 1
    return candidate


def first_review_date(policy: ReviewPolicy, enrolled_on: date) -> date:
    """The member's first review: the first review date after the enrolment day (stored at enrolment)."""
    return next_review_date(policy, enrolled_on=enrolled_on, after=enrolled_on)


def due_review_date(policy: ReviewPolicy, *, enrolled_on: date, scheduled: date, today: date) -> date | None:
    """The review date to hold on `today` for a member whose next review is stored as `scheduled`;
    None when no review is due.

    Only a date of the policy in force counts: a date stored under earlier review settings is not a
    review day of its own, the review falls on the policy's first date on or after it (otherwise a
    member would be reviewed on the old date and again on the new one). When the daily job missed
    more than one review date, one review is held, for the latest: the period's growth value is a
    running figure that cannot be split between the missed periods."""
    due = next_review_date(policy, enrolled_on=enrolled_on, after=scheduled - timedelta(days=1))
    if due > today:
        return None
    while (later := next_review_date(policy, enrolled_on=enrolled_on, after=due)) <= today:
        due = later
    return due


def grace_ends_on(policy: ReviewPolicy, reviewed_on: date) -> date:
    """The day a downgrade decided at the review of `reviewed_on` takes effect if not re-qualified."""
    return reviewed_on + timedelta(days=policy.grace_days)


def progress(tiers: Sequence[TierDef], current_code: str | None, value: Decimal | int) -> TierProgress:
    """How far the member is on the way to the next tier above their current one."""
    ladder = _ladder(tiers)
    amount = _value(value)
    current = _qualified(ladder, amount) if current_code is None else _find(ladder, current_code)
    above = [t for t in ladder if t.rank > current.rank]
    if not above:
        return TierProgress(current, None, amount, Decimal(0), Decimal(1))
    nxt = above[0]
    needed = max(nxt.threshold - amount, Decimal(0))
    span = nxt.threshold - current.threshold
    ratio = min(max((amount - current.threshold) / span, Decimal(0)), Decimal(1))
    return TierProgress(current, nxt, amount, needed, ratio.quantize(_RATIO_STEP, rounding=ROUND_DOWN))
