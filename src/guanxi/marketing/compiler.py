"""Condition tree -> one SQL SELECT of customer ids (SQLAlchemy Core, SQLite and PostgreSQL).

Each leaf becomes a predicate on `customers`: a comparison of its own columns, or
`customers.id IN (...)` / `NOT IN (...)` over a subquery on another table (tags, identities,
loyalty accounts, orders grouped per customer in a window with HAVING, events of a type in a window
with HAVING count). Groups become AND / OR. The outer SELECT drops deleted customers and applies
the actor's row scope, so a count, a sample and a membership check are one statement each, and no
Python code loops over customers.

Relative windows ("last 90 days") are resolved against `kit.clock` when the statement is built;
ages against today in the business time zone.

`only_ids` restricts every subquery and the outer SELECT to a list of customers (incremental tag
refresh, the customer-360 membership check), so those stay cheap on large tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    distinct,
    exists,
    extract,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles

from guanxi.config import get_settings
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import Customer, CustomerIdentity, CustomerTag
from guanxi.customers.repository import scope_clause
from guanxi.kit import clock
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders.models import Order, OrderLine
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.marketing.conditions import Group, Rule, age_bounds, zero_matches


@dataclass(frozen=True)
class Context:
    """What a leaf needs besides itself: the time, today, and the customers it may be limited to."""

    now: datetime
    today: date
    only_ids: Sequence[str] | None = None

    def restrict(self, column: Any) -> ColumnElement[bool]:
        return column.in_(list(self.only_ids)) if self.only_ids is not None else true()


LeafCompiler = Callable[[Rule, Context], ColumnElement[bool]]
_COMPILERS: dict[str, LeafCompiler] = {}


def register_compiler(kind_or_field: str, fn: LeafCompiler) -> None:
    """SQL for a field registered by another domain (kind `custom`: keyed by field name), or for
    the `consent` kind once a consent ledger exists. `fn(rule, ctx)` returns a predicate on
    `customers` (typically `Customer.id.in_(select(...))`)."""
    _COMPILERS[kind_or_field] = fn


def compile_ids(group: Group, actor: Principal, *, only_ids: Sequence[str] | None = None) -> Select[Any]:
    """SELECT customers.id of the customers the tree matches, in the actor's scope, not deleted."""
    ctx = Context(now=clock.now(), today=clock.today(get_settings().timezone), only_ids=only_ids)
    return select(Customer.id).where(
        Customer.deleted_at.is_(None),
        scope_clause(actor, Customer),
        ctx.restrict(Customer.id),
        predicate(group, ctx),
    )


def predicate(group: Group, ctx: Context) -> ColumnElement[bool]:
    parts = [leaf(rule, ctx) for rule in group.rules] + [predicate(sub, ctx) for sub in group.groups]
    if not parts:
        return true()
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if group.match == "all" else or_(*parts)


def leaf(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    kind = rule.spec.kind
    custom = _COMPILERS.get(rule.field) or _COMPILERS.get(kind)
    if custom is not None:
        return custom(rule, ctx)
    builder = _BUILTIN.get(kind)
    if builder is None:
        raise ValueError(f"no compiler for field {rule.field!r} (kind {kind})")
    return builder(rule, ctx)


# ---------------------------------------------------------------- comparisons


def _compare(column: Any, op: str, value: Any, *, nulls_differ: bool = True) -> ColumnElement[bool]:
    """`column op value`. For ne / not_in a missing value counts as different ("not in 上海"
    includes customers without a city) unless `nulls_differ` is False."""
    if op == "eq" or op == "on":
        return column == value
    if op == "ne":
        return or_(column != value, column.is_(None)) if nulls_differ else column != value
    if op == "in":
        return column.in_(list(value))
    if op == "not_in":
        cond = column.not_in(list(value))
        return or_(cond, column.is_(None)) if nulls_differ else cond
    if op == "gt" or op == "after":
        return column > value
    if op == "gte":
        return column >= value
    if op == "lt" or op == "before":
        return column < value
    if op == "lte":
        return column <= value
    if op == "between":
        return and_(column >= value[0], column <= value[1])
    if op == "is_set":
        return column.is_not(None)
    if op == "is_not_set":
        return column.is_(None)
    raise ValueError(f"operator {op!r} has no SQL form")


class ByDialect(ColumnElement[bool]):
    """One predicate written two ways; the database it is compiled for picks its own."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, default: ColumnElement[bool], **per_dialect: ColumnElement[bool]) -> None:
        self.default = default
        self.per_dialect = per_dialect


@compiles(ByDialect)
def _by_dialect(element: ByDialect, compiler: Any, **kw: Any) -> str:
    chosen = element.per_dialect.get(compiler.dialect.name, element.default)
    return str(compiler.process(chosen, **kw))


def _in(subquery: Select[Any], negate: bool = False) -> ColumnElement[bool]:
    """`customers.id IN (subquery)`, or its negation. SQLite answers `NOT IN` from a temporary
    index of the subquery's ids. PostgreSQL hashes a `NOT IN` list only when it fits in work_mem,
    and otherwise rescans it for every customer (hours at a million); `NOT EXISTS` becomes a hash
    anti-join that spills to disk instead. The subqueries never yield NULL, so both mean the same."""
    if not negate:
        return Customer.id.in_(subquery)
    ids = subquery.subquery("excluded")
    anti = ~exists(select(literal(1)).select_from(ids).where(ids.c[0] == Customer.id))
    return ByDialect(Customer.id.not_in(subquery), postgresql=anti)


# ---------------------------------------------------------------- built-in kinds


def _profile(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    column = getattr(Customer, rule.spec.column)
    op, value = rule.op, rule.value
    if op == "within_last_days":
        if rule.spec.value_type == "date":
            return and_(column >= ctx.today - timedelta(days=value), column <= ctx.today)
        return column >= ctx.now - timedelta(days=value)
    if rule.spec.value_type == "datetime" and op == "on":
        return and_(column >= value, column < value + timedelta(days=1))
    if rule.spec.value_type == "datetime" and op == "between":
        return and_(column >= value[0], column < value[1])
    return _compare(column, op, value)


def _age(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    if rule.op in ("is_set", "is_not_set"):
        return _compare(Customer.birthday, rule.op, None)
    if rule.op == "ne":
        earliest, latest = age_bounds(ctx.today, "eq", rule.value)
        assert earliest is not None and latest is not None
        return or_(Customer.birthday < earliest, Customer.birthday > latest)
    earliest, latest = age_bounds(ctx.today, rule.op, rule.value)
    parts: list[ColumnElement[bool]] = [Customer.birthday.is_not(None)]
    if earliest is not None:
        parts.append(Customer.birthday >= earliest)
    if latest is not None:
        parts.append(Customer.birthday <= latest)
    return and_(*parts)


def _birthday_month(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    month = extract("month", Customer.birthday)
    return and_(Customer.birthday.is_not(None), _compare(month, rule.op, rule.value, nulls_differ=False))


def _identity(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    holders = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == rule.value, ctx.restrict(CustomerIdentity.customer_id)
    )
    return _in(holders, negate=rule.op == "has_not")


def _tag(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    tags = list(rule.value) if rule.op == "has_any" else [rule.value]
    tagged = select(CustomerTag.customer_id).where(
        CustomerTag.tag.in_(tags) if len(tags) > 1 else CustomerTag.tag == tags[0],
        ctx.restrict(CustomerTag.customer_id),
    )
    return _in(tagged, negate=rule.op == "has_not")


def _loyalty(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    column = getattr(LoyaltyAccount, rule.spec.column)
    members = select(LoyaltyAccount.customer_id).where(ctx.restrict(LoyaltyAccount.customer_id))
    if rule.op == "is_set":
        return _in(members)
    if rule.op == "is_not_set":
        return _in(members, negate=True)
    # Figures exist only for members: "points < 100" means members with fewer than 100 points.
    return _in(members.where(_compare(column, rule.op, rule.value, nulls_differ=False)))


def _window(column: Any, rule: Rule, ctx: Context) -> list[ColumnElement[bool]]:
    if rule.window is None:
        return []
    since, until = rule.window.resolve(ctx.now)
    parts = []
    if since is not None:
        parts.append(column >= since)
    if until is not None:
        parts.append(column < until)
    return parts


def _orders(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    """Orders (not wholly refunded, not cancelled) per customer in the window; with a category,
    the lines of that category not wholly refunded. count = orders, total = paid minus refunded."""
    filters = dict(rule.where)
    conditions: list[ColumnElement[bool]] = [
        Order.status.not_in(("refunded", "cancelled")),
        ctx.restrict(Order.customer_id),
        *_window(Order.occurred_at, rule, ctx),
    ]
    if "store" in filters:
        conditions.append(Order.store == filters["store"])
    if "channel" in filters:
        conditions.append(Order.channel == filters["channel"])
    if "category" in filters:
        source: Any = Order.__table__.join(OrderLine.__table__, OrderLine.order_id == Order.id)
        conditions += [OrderLine.category == filters["category"], OrderLine.quantity > OrderLine.refunded_quantity]
        count = func.count(distinct(Order.id))
        total = func.sum(OrderLine.paid_share - OrderLine.refunded_amount)
    else:
        source = Order.__table__
        count = func.count()
        total = func.sum(Order.paid_amount - Order.refunded_amount)
    aggregate = count if rule.spec.column == "count" else total
    grouped = select(Order.customer_id).select_from(source).where(*conditions).group_by(Order.customer_id)
    if zero_matches(rule.op, rule.value):
        # Customers without orders in the window satisfy the comparison too: keep everyone except
        # those whose orders make it false.
        return _in(grouped.having(not_(_compare(aggregate, rule.op, rule.value, nulls_differ=False))), negate=True)
    return _in(grouped.having(_compare(aggregate, rule.op, rule.value, nulls_differ=False)))


class JsonEquals(ColumnElement[bool]):
    """`properties.<key>` equals a JSON scalar, compared as JSON on each database: no cast that a
    differently typed value in some row could make fail (text "abc" against 5 is simply unequal)."""

    inherit_cache = False  # its values are rendered at compile time: never reuse a compiled form
    type = Boolean()

    def __init__(self, column: Any, key: str, value: Any) -> None:
        self.column = column
        self.key = key
        self.value = value


@compiles(JsonEquals, "sqlite")
def _json_equals_sqlite(element: JsonEquals, compiler: Any, **kw: Any) -> str:
    # json_extract gives SQL values: text, integer/real (5 = 5.0), and 1/0 for booleans.
    value = int(element.value) if isinstance(element.value, bool) else element.value
    path = compiler.process(literal(f'$."{element.key}"'), **kw)
    wanted = compiler.process(literal(value), **kw)
    bool_check = ""
    if isinstance(element.value, bool):
        bool_check = f" AND json_type({compiler.process(element.column, **kw)}, {path}) IN ('true', 'false')"
    return f"(json_extract({compiler.process(element.column, **kw)}, {path}) = {wanted}{bool_check})"


@compiles(JsonEquals, "postgresql")
def _json_equals_postgresql(element: JsonEquals, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.key), **kw)
    wanted = compiler.process(literal(json.dumps(element.value, ensure_ascii=False)), **kw)
    return f"(CAST(({column} -> {key}) AS JSONB) = CAST({wanted} AS JSONB))"


def _property(key: str, value: Any) -> ColumnElement[bool]:
    return JsonEquals(CustomerEvent.properties, key, value)


def _event(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    """Customers with at least `min_count` events of the type in the window (the index on
    (type, occurred_at, customer_id) answers it without reading event rows when no property
    filter is given)."""
    did = select(CustomerEvent.customer_id).where(
        CustomerEvent.type == rule.value,
        *_window(CustomerEvent.occurred_at, rule, ctx),
        CustomerEvent.customer_id.is_not(None),
        ctx.restrict(CustomerEvent.customer_id),
        *(_property(k, v) for k, v in rule.where),
    )
    if rule.min_count > 1:
        did = did.group_by(CustomerEvent.customer_id).having(func.count() >= rule.min_count)
    return _in(did, negate=rule.op == "did_not")


def _consent(rule: Rule, ctx: Context) -> ColumnElement[bool]:
    raise ValueError("consent conditions need the consent ledger, which does not exist yet")


_BUILTIN: dict[str, LeafCompiler] = {
    "profile": _profile,
    "age": _age,
    "birthday_month": _birthday_month,
    "identity": _identity,
    "tag": _tag,
    "loyalty": _loyalty,
    "orders": _orders,
    "event": _event,
    "consent": _consent,
}


def score_field_compiler(table: Any, customer_column: Any, value_column: Any) -> LeafCompiler:
    """A compiler for a numeric score kept in another table (one row per customer), for
    `register_compiler`: `customers.id IN (SELECT customer_id FROM table WHERE value op x)`."""

    def compile_score(rule: Rule, ctx: Context) -> ColumnElement[bool]:
        if rule.op in ("is_set", "is_not_set"):
            scored = select(customer_column).where(value_column.is_not(None), ctx.restrict(customer_column))
            return _in(scored, negate=rule.op == "is_not_set")
        scored = select(customer_column).where(
            _compare(value_column, rule.op, rule.value, nulls_differ=False), ctx.restrict(customer_column)
        )
        return _in(scored)

    return compile_score


__all__ = ["Context", "compile_ids", "predicate", "register_compiler", "score_field_compiler"]
