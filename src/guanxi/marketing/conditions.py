"""The condition language of segments and tag rules: pure data, no database.

A definition is a tree of groups. A group matches `all` (AND) or `any` (OR) of its `rules`
(leaves) and its nested `groups`:

    {"match": "all",
     "rules": [{"field": "city", "op": "eq", "value": "上海"},
               {"field": "tag", "op": "has", "value": "VIP"}],
     "groups": [{"match": "any", "rules": [
         {"field": "orders.count", "op": "gte", "value": 2, "window": {"last_days": 90},
          "where": {"category": "母婴"}},
         {"field": "event", "op": "did", "value": "add_to_cart", "min_count": 3,
          "window": {"last_days": 30}}]}]}

Every field is described by a `FieldSpec` in a registry (`FIELDS`): its kind (how the compiler
turns it into SQL), its value type, the operators it accepts, and its labels for the console.
Other domains add fields with `register_field` (analytics: score fields). `parse` validates a raw
definition against the registry and returns the typed tree with coerced values, or raises
`ConditionError` whose items name the path of each problem
(`conditions.groups[0].rules[1].value`) and say what is wrong.

Consent: no consent ledger exists yet, so the `consent` field is registered but refused with
`consent_unavailable` until the privacy domain provides one (see `CONSENT_AVAILABLE` and
`docs/segments.md`).
"""

from __future__ import annotations

import calendar
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from guanxi.customers.schemas import CHANNELS, GENDERS, SOURCE_CHANNELS, IdentityKindName
from guanxi.kit.text import NUL_MESSAGE, has_nul

MAX_DEPTH = 5
MAX_RULES = 100
MAX_LIST = 500
MAX_DAYS = 3660
MAX_TEXT = 100

# How the compiler turns a field into SQL.
Kind = Literal[
    "profile",  # a column of customers
    "place",  # province, city or district: matched by administrative division code
    "age",  # derived from the birthday, in the business time zone
    "birthday_month",
    "identity",  # holds an identity of a kind
    "tag",
    "loyalty",  # a column of the loyalty account (the card)
    "orders",  # an aggregate of orders in a window
    "event",  # did / did not do an event in a window
    "consent",  # hook: no consent ledger yet
    "custom",  # registered by another domain, compiled by its own function
]
ValueType = Literal["string", "enum", "integer", "decimal", "date", "datetime", "none"]

STRING_OPS = ("eq", "ne", "in", "not_in", "is_set", "is_not_set")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
DATE_OPS = ("before", "after", "between", "on", "within_last_days", "is_set", "is_not_set")
NO_VALUE_OPS = frozenset({"is_set", "is_not_set"})
LIST_OPS = frozenset({"in", "not_in", "has_any"})

# The profile's own vocabularies: one definition, in the customers schemas (pure pydantic).
IDENTITY_KINDS: tuple[str, ...] = get_args(IdentityKindName)
INCOME_BANDS = ("lt5k", "5k_10k", "10k_20k", "20k_50k", "gt50k")
ORDER_FILTERS = ("category", "store", "channel")

# No consent ledger exists yet: a rule on consent is refused with a clear message. The privacy
# domain flips this (and registers the compiler) when it ships one.
CONSENT_AVAILABLE = False


@dataclass(frozen=True)
class FieldSpec:
    """One field a rule may test."""

    name: str
    kind: Kind
    value_type: ValueType
    ops: tuple[str, ...]
    label_zh: str
    label_en: str
    choices: tuple[str, ...] = ()
    # The column or aggregate behind the field (profile, loyalty, orders: count | total).
    column: str = ""
    windowed: bool = False
    where_keys: tuple[str, ...] = ()
    group: str = "profile"  # console grouping: profile, tags, loyalty, orders, events, scores
    extra: dict[str, Any] = field(default_factory=dict)


FIELDS: dict[str, FieldSpec] = {}


def register_field(spec: FieldSpec, *, replace: bool = False) -> FieldSpec:
    """Add a field to the language (analytics: `score.rfm`, `score.churn`, ... as kind `custom`,
    with a compiler registered by `marketing.compiler.register_compiler`)."""
    if spec.name in FIELDS and not replace:
        raise ValueError(f"field {spec.name!r} is already registered")
    if not spec.ops:
        raise ValueError(f"field {spec.name!r} needs at least one operator")
    FIELDS[spec.name] = spec
    return spec


def _profile(name: str, zh: str, en: str, value_type: ValueType = "string", **kw: Any) -> None:
    ops = DATE_OPS if value_type in ("date", "datetime") else STRING_OPS
    register_field(FieldSpec(name, "profile", value_type, ops, zh, en, column=name, **kw))


def _place(name: str, zh: str, en: str) -> None:
    """A level of the customer's place: a value is matched by its division code when it names one
    (上海, 上海市 and Shanghai alike), else as text (marketing.place_rules)."""
    register_field(FieldSpec(name, "place", "string", STRING_OPS, zh, en, column=name))


_profile("gender", "性别", "Gender", "enum", choices=GENDERS)
_profile("birthday", "生日", "Birthday", "date")
_place("province", "省份", "Province")
_place("city", "城市", "City")
_place("district", "区县", "District")
_profile("region", "大区", "Region")
_profile("occupation", "职业", "Occupation")
_profile("income_band", "收入段", "Income band", "enum", choices=INCOME_BANDS)
_profile("source_channel", "来源渠道", "Source channel", "enum", choices=SOURCE_CHANNELS)
_profile("preferred_channel", "偏好渠道", "Preferred channel", "enum", choices=CHANNELS)
_profile("preferred_language", "语言", "Language", "enum", choices=("zh-CN", "en"))
_profile("team", "团队", "Team")
_profile("created_at", "注册时间", "Created", "datetime")
register_field(FieldSpec("age", "age", "integer", (*NUMBER_OPS, "is_set", "is_not_set"), "年龄", "Age"))
register_field(
    FieldSpec("birthday_month", "birthday_month", "integer", ("eq", "ne", "in", "not_in"), "生日月份", "Birthday month")
)
register_field(
    FieldSpec("identity", "identity", "enum", ("has", "has_not"), "身份标识", "Identity", choices=IDENTITY_KINDS)
)
register_field(FieldSpec("tag", "tag", "string", ("has", "has_not", "has_any"), "标签", "Tag", group="tags"))


def _loyalty(name: str, column: str, zh: str, en: str, value_type: ValueType = "integer") -> None:
    ops = (*STRING_OPS,) if value_type == "string" else NUMBER_OPS
    register_field(FieldSpec(name, "loyalty", value_type, ops, zh, en, column=column, group="loyalty"))


_loyalty("loyalty.tier", "tier_code", "会员等级", "Tier", "string")
_loyalty("loyalty.points_balance", "points_balance", "可用积分", "Points balance")
_loyalty("loyalty.pending_points", "pending_points", "待生效积分", "Pending points")
_loyalty("loyalty.lifetime_earned", "lifetime_earned", "累计获得积分", "Points earned (lifetime)")
_loyalty("loyalty.lifetime_redeemed", "lifetime_redeemed", "累计使用积分", "Points redeemed (lifetime)")
_loyalty("loyalty.growth_value", "growth_value", "成长值", "Growth value")
_loyalty("loyalty.qualifying_spend", "qualifying_spend", "定级消费额", "Qualifying spend", "decimal")
register_field(
    FieldSpec(
        "orders.count",
        "orders",
        "integer",
        NUMBER_OPS,
        "订单数",
        "Orders",
        column="count",
        windowed=True,
        where_keys=ORDER_FILTERS,
        group="orders",
    )
)
register_field(
    FieldSpec(
        "orders.total",
        "orders",
        "decimal",
        NUMBER_OPS,
        "实付金额",
        "Amount paid",
        column="total",
        windowed=True,
        where_keys=ORDER_FILTERS,
        group="orders",
    )
)
register_field(
    FieldSpec("event", "event", "string", ("did", "did_not"), "行为事件", "Event", windowed=True, group="events")
)
register_field(
    FieldSpec("consent", "consent", "enum", ("granted", "not_granted"), "营销同意", "Consent", choices=CHANNELS)
)


# ---------------------------------------------------------------- the raw shape (pydantic)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(_Strict):
    """Relative (`last_days`, resolved against the clock at evaluation) or absolute bounds
    (`since` inclusive, `until` exclusive)."""

    last_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    since: datetime | None = None
    until: datetime | None = None


Scalar = str | int | float | bool
RawValue = Scalar | list[Scalar] | None


class RuleIn(_Strict):
    field: str = Field(min_length=1, max_length=60)
    op: str = Field(min_length=1, max_length=20)
    value: RawValue = None
    window: Window | None = None
    where: dict[str, Scalar] | None = None
    min_count: int | None = Field(default=None, ge=1, le=1_000_000)


class GroupIn(_Strict):
    match: Literal["all", "any"] = "all"
    rules: list[RuleIn] = Field(default_factory=list, max_length=MAX_RULES)
    groups: list[GroupIn] = Field(default_factory=list, max_length=20)


# ---------------------------------------------------------------- the validated tree


@dataclass(frozen=True)
class Bounds:
    """A time window, resolved or relative."""

    last_days: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def resolve(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(since inclusive, until exclusive) at `now`; a relative window ends now."""
        if self.last_days is not None:
            return now - timedelta(days=self.last_days), None
        return self.since, self.until


@dataclass(frozen=True)
class Rule:
    spec: FieldSpec
    op: str
    value: Any = None
    window: Bounds | None = None
    where: tuple[tuple[str, Any], ...] = ()
    min_count: int = 1
    path: str = ""

    @property
    def field(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Group:
    match: Literal["all", "any"]
    rules: tuple[Rule, ...] = ()
    groups: tuple[Group, ...] = ()

    def leaves(self) -> list[Rule]:
        out = list(self.rules)
        for sub in self.groups:
            out += sub.leaves()
        return out


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    code: str = "invalid"


class ConditionError(ValueError):
    """A definition that cannot be evaluated, with one problem per item."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


def _loc_path(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}"
    return path


def parse(raw: Any, *, root: str = "conditions") -> Group:
    """Validate a raw definition (dict) and return the typed tree, or raise ConditionError."""
    if has_nul(raw):
        raise ConditionError([Problem(root, NUL_MESSAGE, "nul_character")])
    if isinstance(raw, GroupIn):
        shape = raw
    else:
        try:
            shape = GroupIn.model_validate(raw)
        except PydanticValidationError as exc:
            found = []
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
                found.append(Problem(_loc_path(root, loc), err["msg"], err["type"]))
            raise ConditionError(_dedupe(found)) from None
    problems: list[Problem] = []
    counter = [0]
    group = _group(shape, root, 1, problems, counter)
    if counter[0] > MAX_RULES:
        problems.append(Problem(root, f"at most {MAX_RULES} rules in one definition", "too_many_rules"))
    if problems:
        raise ConditionError(problems)
    return group


# Pydantic names the member of a union it tried; a path for people leaves those out.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "list[union[str,int,float,bool]]", "list[str]"})


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(problem.path, problem)
    return list(seen.values())


def _group(shape: GroupIn, path: str, depth: int, problems: list[Problem], counter: list[int]) -> Group:
    if depth > MAX_DEPTH:
        problems.append(Problem(path, f"groups nest at most {MAX_DEPTH} levels deep", "too_deep"))
        return Group(match=shape.match)
    if not shape.rules and not shape.groups:
        problems.append(Problem(path, "a group needs at least one rule or group", "empty_group"))
    rules = []
    for i, raw in enumerate(shape.rules):
        counter[0] += 1
        rule = _rule(raw, f"{path}.rules[{i}]", problems)
        if rule is not None:
            rules.append(rule)
    groups = [_group(sub, f"{path}.groups[{i}]", depth + 1, problems, counter) for i, sub in enumerate(shape.groups)]
    return Group(match=shape.match, rules=tuple(rules), groups=tuple(groups))


def _rule(raw: RuleIn, path: str, problems: list[Problem]) -> Rule | None:
    spec = FIELDS.get(raw.field)
    if spec is None:
        problems.append(Problem(f"{path}.field", f"unknown field {raw.field!r}", "unknown_field"))
        return None
    if spec.kind == "consent" and not CONSENT_AVAILABLE:
        problems.append(
            Problem(
                f"{path}.field",
                "consent conditions need the consent ledger, which does not exist yet",
                "consent_unavailable",
            )
        )
        return None
    if raw.op not in spec.ops:
        problems.append(
            Problem(f"{path}.op", f"{raw.field} accepts {', '.join(spec.ops)}, not {raw.op!r}", "unknown_operator")
        )
        return None
    before = len(problems)
    value = _value(spec, raw.op, raw.value, f"{path}.value", problems)
    window = _window(spec, raw.window, f"{path}.window", problems)
    where = _where(spec, raw.where, f"{path}.where", problems)
    if raw.min_count is not None and spec.kind != "event":
        problems.append(Problem(f"{path}.min_count", "only event rules take min_count", "not_allowed"))
    if len(problems) > before:
        return None
    return Rule(
        spec=spec,
        op=raw.op,
        value=value,
        window=window,
        where=where,
        min_count=raw.min_count or 1,
        path=path,
    )


def _window(spec: FieldSpec, raw: Window | None, path: str, problems: list[Problem]) -> Bounds | None:
    if raw is None:
        return None
    if not spec.windowed:
        problems.append(Problem(path, f"{spec.name} does not take a time window", "not_allowed"))
        return None
    if raw.last_days is not None and (raw.since or raw.until):
        problems.append(Problem(path, "give last_days or since/until, not both", "ambiguous_window"))
        return None
    if raw.last_days is None and raw.since is None and raw.until is None:
        problems.append(Problem(path, "give last_days or since and/or until", "empty_window"))
        return None
    bounds = []
    for key in ("since", "until"):
        value: datetime | None = getattr(raw, key)
        if value is not None and value.tzinfo is None:
            problems.append(Problem(f"{path}.{key}", "needs a time zone offset (e.g. +08:00 or Z)", "naive_datetime"))
            return None
        bounds.append(value.astimezone(UTC) if value else None)
    since, until = bounds
    if since and until and since >= until:
        problems.append(Problem(f"{path}.until", "must be after since", "invalid_range"))
        return None
    return Bounds(last_days=raw.last_days, since=since, until=until)


def _where(
    spec: FieldSpec, raw: dict[str, Any] | None, path: str, problems: list[Problem]
) -> tuple[tuple[str, Any], ...]:
    if not raw:
        return ()
    if spec.kind == "orders":
        out = []
        for key, value in sorted(raw.items()):
            if key not in spec.where_keys:
                allowed = ", ".join(spec.where_keys)
                problems.append(Problem(f"{path}.{key}", f"order filters are {allowed}", "unknown_filter"))
            elif not isinstance(value, str) or not value.strip() or len(value) > 64:
                problems.append(Problem(f"{path}.{key}", "must be a text of 1 to 64 characters", "invalid"))
            else:
                out.append((key, value.strip()))
        return tuple(out)
    if spec.kind == "event":
        out = []
        for key, value in sorted(raw.items()):
            if not key or len(key) > 40 or not key.replace("_", "").isalnum():
                problems.append(Problem(f"{path}.{key}", "property names are letters, digits and _", "invalid_name"))
            elif isinstance(value, str) and len(value) > MAX_TEXT:
                problems.append(Problem(f"{path}.{key}", f"at most {MAX_TEXT} characters", "too_long"))
            else:
                out.append((key, value))
        return tuple(out)
    problems.append(Problem(path, f"{spec.name} does not take filters", "not_allowed"))
    return ()


def _value(spec: FieldSpec, op: str, raw: Any, path: str, problems: list[Problem]) -> Any:
    if op in NO_VALUE_OPS:
        if raw is not None:
            problems.append(Problem(path, f"{op} takes no value", "not_allowed"))
        return None
    if raw is None:
        problems.append(Problem(path, "is required", "required"))
        return None
    if op == "within_last_days":
        return _int(raw, path, problems, low=1, high=MAX_DAYS)
    if op in LIST_OPS or op == "between":
        if not isinstance(raw, list):
            want = "[low, high]" if op == "between" else "a list"
            problems.append(Problem(path, f"{op} needs {want}", "not_a_list"))
            return None
        if op == "between" and len(raw) != 2:
            problems.append(Problem(path, "between needs exactly two values [low, high]", "invalid_range"))
            return None
        if not raw or len(raw) > MAX_LIST:
            problems.append(Problem(path, f"needs 1 to {MAX_LIST} values", "invalid_length"))
            return None
        items = [_scalar(spec, op, item, f"{path}[{i}]", problems) for i, item in enumerate(raw)]
        if any(i is None for i in items):
            return None
        if op == "between" and items[0] > items[1]:
            problems.append(Problem(path, "the low bound is above the high bound", "invalid_range"))
            return None
        return tuple(items)
    if isinstance(raw, list):
        problems.append(Problem(path, f"{op} takes one value, not a list", "not_a_scalar"))
        return None
    return _scalar(spec, op, raw, path, problems)


def _scalar(spec: FieldSpec, op: str, raw: Any, path: str, problems: list[Problem]) -> Any:
    if spec.kind == "birthday_month":
        return _int(raw, path, problems, low=1, high=12)
    if spec.kind == "age":
        return _int(raw, path, problems, low=0, high=150)
    if spec.kind == "orders" and spec.column == "count":
        return _int(raw, path, problems, low=0, high=10_000_000)
    vt = spec.value_type
    if vt == "integer":
        return _int(raw, path, problems, low=-(2**62), high=2**62)
    if vt == "decimal":
        return _decimal(raw, path, problems)
    if vt == "date":
        return _date(raw, path, problems)
    if vt == "datetime":
        return _datetime(raw, path, problems)
    if not isinstance(raw, str) or not raw.strip():
        problems.append(Problem(path, "must be a non-empty text", "not_a_string"))
        return None
    text = raw.strip()
    if len(text) > MAX_TEXT:
        problems.append(Problem(path, f"at most {MAX_TEXT} characters", "too_long"))
        return None
    if spec.choices and text not in spec.choices:
        problems.append(Problem(path, f"must be one of {', '.join(spec.choices)}", "not_a_choice"))
        return None
    return text


def _int(raw: Any, path: str, problems: list[Problem], *, low: int, high: int) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        problems.append(Problem(path, "must be a whole number", "not_an_integer"))
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        problems.append(Problem(path, "must be a whole number", "not_an_integer"))
        return None
    if not number.is_finite() or number != number.to_integral_value():
        problems.append(Problem(path, "must be a whole number", "not_an_integer"))
        return None
    if not low <= number <= high:
        problems.append(Problem(path, f"must be between {low} and {high}", "out_of_range"))
        return None
    return int(number)


def _decimal(raw: Any, path: str, problems: list[Problem]) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        problems.append(Problem(path, "must be a number", "not_a_number"))
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        problems.append(Problem(path, "must be a number", "not_a_number"))
        return None
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        problems.append(Problem(path, "must be a finite number below 10^15", "out_of_range"))
        return None
    return number


def _date(raw: Any, path: str, problems: list[Problem]) -> date | None:
    if isinstance(raw, str):
        with suppress(ValueError):
            return date.fromisoformat(raw)
    problems.append(Problem(path, "must be a date YYYY-MM-DD", "not_a_date"))
    return None


def _datetime(raw: Any, path: str, problems: list[Problem]) -> datetime | None:
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            value = None
        if value is not None:
            if value.tzinfo is None:
                problems.append(Problem(path, "needs a time zone offset (e.g. +08:00 or Z)", "naive_datetime"))
                return None
            return value.astimezone(UTC)
    problems.append(Problem(path, "must be an ISO date-time with offset", "not_a_datetime"))
    return None


# ---------------------------------------------------------------- helpers for the compiler


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    year = day.year - years
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


def age_bounds(today: date, op: str, value: Any) -> tuple[date | None, date | None]:
    """Birthdays (earliest inclusive, latest inclusive) of people whose age satisfies `op value`.

    Someone is n years old from their n-th birthday until the day before the next one.
    """

    def oldest(n: int) -> date:  # earliest birthday of someone aged n today
        return years_before(today, n + 1) + timedelta(days=1)

    def youngest(n: int) -> date:  # latest birthday of someone aged n today
        return years_before(today, n)

    if op == "eq":
        return oldest(value), youngest(value)
    if op == "gte":
        return None, youngest(value)
    if op == "gt":
        return None, youngest(value + 1)
    if op == "lte":
        return oldest(value), None
    if op == "lt":
        return oldest(value - 1) if value > 0 else today + timedelta(days=1), None
    if op == "between":
        low, high = value
        return oldest(high), youngest(low)
    raise ValueError(op)


def zero_matches(op: str, value: Any) -> bool:
    """Whether an aggregate of 0 (no orders in the window) satisfies the comparison."""
    return compare(Decimal(0), op, value)


def compare(number: Decimal, op: str, value: Any) -> bool:
    if op == "eq":
        return bool(number == value)
    if op == "ne":
        return bool(number != value)
    if op == "gt":
        return bool(number > value)
    if op == "gte":
        return bool(number >= value)
    if op == "lt":
        return bool(number < value)
    if op == "lte":
        return bool(number <= value)
    if op == "between":
        return bool(value[0] <= number <= value[1])
    raise ValueError(op)


def event_types(group: Group) -> set[str]:
    """Event types the definition refers to (the service checks they exist)."""
    return {str(rule.value) for rule in group.leaves() if rule.spec.kind == "event"}


def fields_catalog(language: str = "zh-CN") -> list[dict[str, Any]]:
    """The registry as the console's builder and the API describe it."""
    out = []
    for spec in FIELDS.values():
        if spec.kind == "consent" and not CONSENT_AVAILABLE:
            continue
        out.append(
            {
                "field": spec.name,
                "label": spec.label_zh if language == "zh-CN" else spec.label_en,
                "group": spec.group,
                "value_type": spec.value_type,
                "ops": list(spec.ops),
                "choices": list(spec.choices),
                "windowed": spec.windowed,
                "where": list(spec.where_keys),
            }
        )
    return out
