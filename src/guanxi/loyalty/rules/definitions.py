"""Earning rule definitions: what a marketer writes, validated field by field.

Each kind is a pydantic model in one union discriminated by `kind`. Unknown fields are refused,
every figure and list is bounded, and a definition that could never award or change anything (an
exclusion naming no category, a birthday bonus of ×1 and 0 points) is refused too, so no stored
rule silently does nothing. `parse_rule` turns any failure into `RuleError` with one
`(field_path, message)` per problem, paths relative to the definition (`weekdays[2]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from guanxi.loyalty.rules.allocation import Rounding

MAX_POINTS: Final = 10_000_000
MAX_PRIORITY: Final = 1_000_000
SLUG_PATTERN: Final = r"^[a-z0-9_-]{1,40}$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
OtherName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Points = Annotated[int, Field(ge=0, le=MAX_POINTS)]
Cap = Annotated[int, Field(ge=1, le=MAX_POINTS)]
Multiplier = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4)]
Amount = Annotated[Decimal, Field(gt=0, le=Decimal(10) ** 12, decimal_places=4)]
Labels = Annotated[list[Label], Field(max_length=500)]


class RuleError(ValueError):
    """A rule definition that cannot be used, with every problem as (field path, message)."""

    def __init__(
        self, errors: Sequence[tuple[str, str]], causes: dict[str, tuple[str, dict[str, Any]]] | None = None
    ) -> None:
        self.errors = list(errors)
        # pydantic's error type and its figures per path, for the catalogs to say the problem
        # in the reader's language (`error.pydantic.<type>`); the messages stay English.
        self.causes = dict(causes or {})
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in self.errors))


class _Problem(ValueError):
    """A cross-field check's failure, carrying the field it belongs to through pydantic."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Slug
    name: Name
    # The name on English pages, when the brand gives one (as a tier's `name_en`); `name` otherwise.
    name_en: OtherName = ""
    priority: Annotated[int, Field(ge=0, le=MAX_PRIORITY)] = 100
    stop_further: bool = False
    active: bool = True
    valid_from: date | None = None
    valid_to: date | None = None
    channels: Annotated[list[Label], Field(min_length=1, max_length=50)] | None = None
    stores: Annotated[list[Label], Field(min_length=1, max_length=500)] | None = None
    daily_cap: Cap | None = None
    campaign_cap: Cap | None = None

    # Kinds that only gate, exclude or cap award no points of their own, so a cap on them means nothing.
    AWARDS: ClassVar[bool] = True

    def names(self) -> dict[str, str]:
        """The rule's names as an award's parameters keep them, for the explanation in either language."""
        return {"rule": self.name, **({"rule_en": self.name_en} if self.name_en else {})}

    @model_validator(mode="after")
    def _common(self) -> Self:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise _Problem("valid_to", f"must not be before valid_from {self.valid_from}")
        if not self.AWARDS:
            for name in ("daily_cap", "campaign_cap"):
                if getattr(self, name) is not None:
                    raise _Problem(name, "only rules that award points take a cap")
        self._check()
        return self

    def _check(self) -> None:
        """Kind-specific checks across fields; raise _Problem."""

    def in_force(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


class BaseRateRule(_Rule):
    """`points` per `per_amount` paid: the order's base points, split over its lines."""

    kind: Literal["base_rate"] = "base_rate"
    points: Annotated[Decimal, Field(gt=0, le=10_000, decimal_places=4)] = Decimal(1)
    per_amount: Amount = Decimal(1)
    rounding: Rounding = "floor"
    currency: Currency = "CNY"


class MinimumOrderRule(_Rule):
    """An order paying less than `min_amount` earns nothing at all."""

    kind: Literal["minimum_order"] = "minimum_order"
    min_amount: Amount
    currency: Currency = "CNY"
    AWARDS: ClassVar[bool] = False


def _needs_targets(categories: list[str], skus: list[str]) -> None:
    if not categories and not skus:
        raise _Problem("categories", "give at least one category or SKU")


class ExclusionRule(_Rule):
    """Lines in these categories or with these SKUs earn nothing from any rule."""

    kind: Literal["exclusion"] = "exclusion"
    categories: Labels = []
    skus: Labels = []
    AWARDS: ClassVar[bool] = False

    def _check(self) -> None:
        _needs_targets(self.categories, self.skus)


class TierMultiplierRule(_Rule):
    """Bonus on the order's base points by the member's tier multiplier."""

    kind: Literal["tier_multiplier"] = "tier_multiplier"


class CategoryMultiplierRule(_Rule):
    """Bonus on the base points of lines in these categories or with these SKUs."""

    kind: Literal["category_multiplier"] = "category_multiplier"
    categories: Labels = []
    skus: Labels = []
    multiplier: Multiplier

    def _check(self) -> None:
        _needs_targets(self.categories, self.skus)


class CampaignMultiplierRule(_Rule):
    """Bonus on the base points on given weekdays, dates or public holidays, optionally within a
    local time window (`end_time` exclusive; a window past midnight, 22:00 to 02:00, wraps)."""

    kind: Literal["campaign_multiplier"] = "campaign_multiplier"
    multiplier: Multiplier
    weekdays: Annotated[list[Annotated[int, Field(ge=1, le=7)]], Field(max_length=7)] = []
    dates: Annotated[list[date], Field(max_length=400)] = []
    holidays: bool = False
    start_time: time | None = None
    end_time: time | None = None

    def _check(self) -> None:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise _Problem("weekdays", "lists a weekday twice")
        if (self.start_time is None) != (self.end_time is None):
            missing = "end_time" if self.end_time is None else "start_time"
            raise _Problem(missing, "give both start_time and end_time, or neither")
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                raise _Problem(name, "is a local time: leave out the zone")
        if self.start_time is not None and self.start_time == self.end_time:
            raise _Problem("end_time", "must differ from start_time")
        conditions = (self.weekdays, self.dates, self.holidays, self.start_time, self.valid_from, self.valid_to)
        if not any(c for c in conditions if c is not None):
            raise _Problem("weekdays", "give weekdays, dates, holidays, a time window or a validity period")


class BirthdayBonusRule(_Rule):
    """In the member's birthday month: bonus on base points × (multiplier − 1) plus `bonus_points`,
    the latter once per birthday month unless `bonus_once` is off."""

    kind: Literal["birthday_bonus"] = "birthday_bonus"
    multiplier: Multiplier = Decimal(1)
    bonus_points: Points = 0
    bonus_once: bool = True

    def _check(self) -> None:
        if self.multiplier == 1 and self.bonus_points == 0:
            raise _Problem("multiplier", "a birthday bonus needs a multiplier other than 1 or bonus_points")


class ActionBonusRule(_Rule):
    """Points for an action (checkin, review, share, profile_completion or a custom slug); check-in
    streak bonuses on the day the streak reaches each length."""

    kind: Literal["action_bonus"] = "action_bonus"
    action: Slug
    points: Points
    streak_bonuses: Annotated[
        dict[Annotated[int, Field(ge=1, le=3660)], Annotated[int, Field(ge=1, le=MAX_POINTS)]], Field(max_length=50)
    ] = {}

    def _check(self) -> None:
        if self.stores is not None:
            raise _Problem("stores", "actions happen in no store: leave stores out")
        if self.streak_bonuses and self.action != "checkin":
            raise _Problem("streak_bonuses", "streaks count check-ins only: use them with the checkin action")
        if self.points == 0 and not self.streak_bonuses:
            raise _Problem("points", "give points or streak_bonuses")


class DailyCapRule(_Rule):
    """At most `max_points` per member per local day from all earning; the last awards are trimmed."""

    kind: Literal["daily_cap"] = "daily_cap"
    max_points: Points
    AWARDS: ClassVar[bool] = False

    def _check(self) -> None:
        if self.stop_further:
            raise _Problem("stop_further", "a daily cap is applied after all earning and stops nothing")


Rule = Annotated[
    BaseRateRule
    | MinimumOrderRule
    | ExclusionRule
    | TierMultiplierRule
    | CategoryMultiplierRule
    | CampaignMultiplierRule
    | BirthdayBonusRule
    | ActionBonusRule
    | DailyCapRule,
    Field(discriminator="kind"),
]
ORDER_KINDS: Final = frozenset(
    {
        "base_rate",
        "minimum_order",
        "exclusion",
        "tier_multiplier",
        "category_multiplier",
        "campaign_multiplier",
        "birthday_bonus",
        "daily_cap",
    }
)
KINDS: Final = (*sorted(ORDER_KINDS), "action_bonus")

_adapter: TypeAdapter[Rule] = TypeAdapter(Rule)


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # pydantic's marker for a bad dict key: the key itself is already in the path
            path += f".{part}" if path else part
    return path


def _causes(exc: ValidationError, kind: object) -> dict[str, tuple[str, dict[str, Any]]]:
    causes: dict[str, tuple[str, dict[str, Any]]] = {}
    for error in exc.errors():
        loc = list(error["loc"])
        if loc and loc[0] == kind:
            loc = loc[1:]
        ctx = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
        if not isinstance((error.get("ctx") or {}).get("error"), _Problem):
            causes.setdefault(_path(loc), (error["type"], ctx))
    return causes


def _problems(exc: ValidationError, kind: object) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = list(error["loc"])
        if loc and loc[0] == kind:  # the union's branch, not a field
            loc = loc[1:]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _Problem):
            problems.append((_path([*loc, cause.field]), cause.message))
        elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            problems.append(("kind", f"must be one of {', '.join(KINDS)}"))
        else:
            problems.append((_path(loc), error["msg"]))
    return problems


def parse_rule(data: dict[str, Any]) -> Rule:
    """A validated rule from its definition (as stored, or as a form or the API sent it)."""
    if not isinstance(data, dict):
        raise RuleError([("", "a rule definition is an object")])
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        kind = data.get("kind")
        raise RuleError(_problems(exc, kind), _causes(exc, kind)) from None


def parse_rules(definitions: Sequence[dict[str, Any]]) -> list[Rule]:
    """A whole rule set: every definition valid and every code used once, errors as `[i].field`."""
    parsed: list[Rule] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, definition in enumerate(definitions):
        try:
            rule = parse_rule(definition)
        except RuleError as exc:
            problems.extend((f"[{i}].{path}" if path else f"[{i}]", message) for path, message in exc.errors)
            continue
        if rule.code in seen:
            problems.append((f"[{i}].code", f"duplicates the code of [{seen[rule.code]}]"))
            continue
        seen[rule.code] = i
        parsed.append(rule)
    if problems:
        raise RuleError(problems)
    return parsed


def check_rule_set(rules: Sequence[Rule]) -> None:
    """Two rules with one code would share caps and usage: refuse the set."""
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.code in seen:
            raise RuleError([(f"[{i}].code", f"duplicates the code of [{seen[rule.code]}]")])
        seen[rule.code] = i


def default_rules() -> list[Rule]:
    """A fresh installation: 1 point per 1 CNY paid (rounded down), multiplied by the member's tier."""
    return [
        BaseRateRule(code="base_rate", name="消费积分", name_en="Purchase points", priority=100),
        TierMultiplierRule(code="tier_multiplier", name="会员等级加倍", name_en="Tier bonus", priority=200),
    ]
