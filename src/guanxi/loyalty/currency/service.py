"""The rate table's use cases: load rows (all or nothing), list them, and find the rate covering a
day for one order (`rate_for`) or for a whole batch of orders in one query (`rates_for`).

Lookups check no permission: they serve orders, whose own permission the order path checks.
Loading needs `exchange_rates:create` (and `update` to replace a rate), listing `read`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit import clock
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.i18n import t
from guanxi.kit.principal import Principal
from guanxi.loyalty.currency import coverage, csv_table, errors
from guanxi.loyalty.currency.coverage import RatePeriod, RateUsed
from guanxi.loyalty.currency.models import ExchangeRate
from guanxi.loyalty.currency.rows import GivenRate, RawRate, RowRef, check_rows
from guanxi.loyalty.program import config as program
from guanxi.privacy import audit

convert = coverage.convert  # public here: callers of the lookups convert with it
_PG_LOCK_KEY = 0x67785F7261746573  # "gx_rates": one load at a time on PostgreSQL
_SHOWN_IN_MESSAGE = 5


def _period(row: ExchangeRate) -> RatePeriod:
    return RatePeriod(currency=row.currency, valid_from=row.valid_from, valid_to=row.valid_to, rate=row.rate)


def rates_for(
    session: Session, pairs: Iterable[tuple[str, date]], *, to_currency: str | None = None
) -> dict[tuple[str, date], RateUsed]:
    """The rate covering each (currency, day) that has one; pairs without a rate are left out.

    One query for the whole set: per currency, the rows from the one in force on its earliest
    day up to its latest day (an open-ended row before a later row of the range ends there)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    target = to_currency or program.load(session).currency
    spans: dict[str, tuple[date, date]] = {}
    for currency, day in wanted:
        low, high = spans.get(currency, (day, day))
        spans[currency] = (min(low, day), max(high, day))
    rate = ExchangeRate
    conditions = []
    for currency, (low, high) in spans.items():
        in_force = (
            select(func.max(rate.valid_from))
            .where(rate.currency == currency, rate.to_currency == target, rate.valid_from <= low)
            .scalar_subquery()
        )
        conditions.append(
            and_(rate.currency == currency, rate.valid_from <= high, rate.valid_from >= func.coalesce(in_force, low))
        )
    rows = session.scalars(
        select(rate).where(rate.to_currency == target, or_(*conditions)).order_by(rate.currency, rate.valid_from)
    )
    periods: dict[str, list[RatePeriod]] = defaultdict(list)
    for row in rows:
        periods[row.currency].append(_period(row))
    found: dict[tuple[str, date], RateUsed] = {}
    for currency, day in wanted:
        period = coverage.covering(periods.get(currency, []), day)
        if period is not None:
            found[(currency, day)] = coverage.used(period, target)
    return found


def find_rate(session: Session, currency: str, on: date, *, to_currency: str | None = None) -> RateUsed | None:
    """The rate covering `on`, or None."""
    return rates_for(session, {(currency, on)}, to_currency=to_currency).get((currency, on))


def rate_for(session: Session, currency: str, on: date) -> RateUsed:
    """The rate covering `on`; `NoExchangeRate` (naming currency and day) when none does."""
    found = find_rate(session, currency.upper(), on)
    if found is None:
        raise errors.no_rate(currency.upper(), on)
    return found


def list_rates(
    session: Session, actor: Principal, *, currency: str | None = None, on: date | None = None
) -> list[ExchangeRate]:
    """The table by currency and start day; with `on`, only the row covering that day per currency."""
    require(actor, "exchange_rates", "read")
    target = program.load(session).currency
    stmt = select(ExchangeRate).where(ExchangeRate.to_currency == target)
    if currency is not None:
        stmt = stmt.where(ExchangeRate.currency == currency.strip().upper())
    if on is not None:
        stmt = stmt.where(ExchangeRate.valid_from <= on)
    rows = list(session.scalars(stmt.order_by(ExchangeRate.currency, ExchangeRate.valid_from)))
    if on is None:
        return rows
    by_currency: dict[str, list[ExchangeRate]] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row)
    covering = []
    for group in by_currency.values():
        period = coverage.covering([_period(r) for r in group], on)
        covering += [r for r in group if period is not None and r.valid_from == period.valid_from]
    return covering


@dataclass
class LoadReport:
    """What a load wrote (or, on a dry run, would write)."""

    source: str
    dry_run: bool
    added: list[RatePeriod] = field(default_factory=list)
    replaced: list[RatePeriod] = field(default_factory=list)
    unchanged: list[RatePeriod] = field(default_factory=list)

    @property
    def currencies(self) -> list[str]:
        return sorted({p.currency for p in (*self.added, *self.replaced, *self.unchanged)})


def _refusal(found: list[FieldError], language: str) -> ValidationFailed | errors.RateConflict:
    shown = "; ".join(f"{e.field}: {e.message}" for e in found[:_SHOWN_IN_MESSAGE])
    message = f"{t('currency.table_refused', language, count=len(found))}: {shown}"
    if {e.code for e in found} == {errors.RateConflict.code}:
        return errors.RateConflict(message=message, errors=found)
    return ValidationFailed(message=message, errors=found)


def _conflict(given: GivenRate, existing: ExchangeRate, language: str) -> FieldError:
    period = given.period
    message = t(
        "currency.rate_conflict",
        language,
        currency=period.currency,
        valid_from=period.valid_from.isoformat(),
        rate=coverage.used(_period(existing), existing.to_currency).rate,
        valid_to=existing.valid_to.isoformat() if existing.valid_to else "-",
    )
    return FieldError(given.where.field("rate"), message, errors.RateConflict.code)


def _range_errors(
    problems: Sequence[coverage.RangeProblem], given: dict[tuple[str, date], RowRef], language: str
) -> list[FieldError]:
    """One error per problem that involves a row being loaded, on that row's date."""
    found = []
    for problem in problems:
        first, second = problem.first, problem.second
        first_at = given.get((first.currency, first.valid_from))
        second_at = given.get((second.currency, second.valid_from))
        if first_at is not None:
            where = first_at.field("valid_to")
        elif second_at is not None:
            where = second_at.field("valid_from")
        else:
            continue  # an older incoherence this load does not touch
        params = {
            "currency": problem.currency,
            "first_from": first.valid_from.isoformat(),
            "first_to": first.valid_to.isoformat() if first.valid_to else "",
            "second_from": second.valid_from.isoformat(),
        }
        gap = problem.gap
        if gap is not None:
            params.update(gap_from=gap[0].isoformat(), gap_to=gap[1].isoformat())
        found.append(
            FieldError(where, t(f"currency.range_{problem.kind}", language, **params), f"range_{problem.kind}")
        )
    return found


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Two loads checking ranges at once could each accept what together leaves a gap.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def load_rates(
    session: Session,
    actor: Principal,
    rows: Sequence[RawRate],
    *,
    source: str,
    replace: bool = False,
    dry_run: bool = False,
    row_errors: Sequence[FieldError] = (),
) -> LoadReport:
    """Check every row, then the table as the rows would leave it; write all rows or none.

    A (currency, valid_from) already in the table with the same rate and end is unchanged; with
    another it is a conflict unless `replace`. `row_errors` are problems the caller's reader
    found (a malformed CSV line), reported with the others."""
    require(actor, "exchange_rates", "create")
    if replace:
        require(actor, "exchange_rates", "update")
    language = actor.language
    target = program.load(session).currency
    if not rows and not row_errors:
        message = t("currency.no_rows", language)
        raise ValidationFailed(message=message, errors=[FieldError("rates", message, "no_rows")])
    good, found, spoiled = check_rows(rows, target, language)
    found = [*row_errors, *found]
    _lock(session)
    currencies = {g.period.currency for g in good}
    stored = session.scalars(
        select(ExchangeRate).where(ExchangeRate.to_currency == target, ExchangeRate.currency.in_(currencies))
    )
    existing = {(r.currency, r.valid_from): r for r in stored}
    report = LoadReport(source=source, dry_run=dry_run)
    changes: list[tuple[GivenRate, ExchangeRate | None]] = []
    for item in good:
        period = item.period
        old = existing.get((period.currency, period.valid_from))
        if old is None:
            report.added.append(period)
            changes.append((item, None))
        elif Decimal(old.rate) == period.rate and old.valid_to == period.valid_to:
            report.unchanged.append(period)
        elif replace:
            report.replaced.append(period)
            changes.append((item, old))
        else:
            found.append(_conflict(item, old, language))
    table: dict[str, dict[date, RatePeriod]] = defaultdict(dict)
    for row in existing.values():
        table[row.currency][row.valid_from] = _period(row)
    for item in good:
        table[item.period.currency][item.period.valid_from] = item.period
    given = {(g.period.currency, g.period.valid_from): g.where for g in good}
    for currency in sorted(set(table) - spoiled):
        periods = [table[currency][day] for day in sorted(table[currency])]
        found += _range_errors(coverage.range_problems(periods), given, language)
    if found:
        raise _refusal(found, language)
    if not dry_run:
        _write(session, actor, changes, source, target)
        audit.record(
            session,
            actor,
            "exchange_rates.load",
            entity_type="exchange_rates",
            detail={
                "source": source,
                "replace": replace,
                "added": len(report.added),
                "replaced": len(report.replaced),
                "unchanged": len(report.unchanged),
                "currencies": report.currencies,
            },
        )
    return report


def _write(
    session: Session,
    actor: Principal,
    changes: Sequence[tuple[GivenRate, ExchangeRate | None]],
    source: str,
    target: str,
) -> None:
    now = clock.now()
    for item, old in changes:
        period = item.period
        if old is None:
            old = ExchangeRate(currency=period.currency, to_currency=target, valid_from=period.valid_from)
            session.add(old)
        # A replaced row is the new loader's: who and when describe the rate it now holds.
        old.valid_to = period.valid_to
        old.rate = period.rate
        old.source = source
        old.created_by = actor.id
        old.created_at = now
    session.flush()


def load_csv(
    session: Session, actor: Principal, data: bytes, *, source: str, replace: bool = False, dry_run: bool = False
) -> LoadReport:
    """`load_rates` for a CSV file (see `csv_table`); line numbers name the file's lines."""
    require(actor, "exchange_rates", "create")
    rows, shape_errors = csv_table.read(data, actor.language)
    return load_rates(session, actor, rows, source=source, replace=replace, dry_run=dry_run, row_errors=shape_errors)
