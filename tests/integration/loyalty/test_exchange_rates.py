"""Loading the rate table (all or nothing, unchanged, conflicts, replacement, coverage against
what is stored, audit) and looking rates up for orders, one or a batch at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.currency import service as rates
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.currency.errors import NoExchangeRate, RateConflict
from guanxi.loyalty.currency.models import ExchangeRate
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ADMIN = replace(SYSTEM, language="en")
MANAGER = Principal(id="mgr-1", name="manager", role="manager", language="en")

TABLE = b"""currency,rate,valid_from,valid_to
USD,7.10,2026-01-01,2026-01-31
USD,7.20,2026-02-01,2026-02-28
USD,7.25,2026-03-01,
HKD,0.91,2026-01-01,
"""


@pytest.fixture(autouse=True)
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _load(db: Database, data: bytes, actor: Principal = ADMIN, **options: Any) -> rates.LoadReport:
    with db.unit_of_work() as session:
        return rates.load_csv(session, actor, data, source="rates.csv", **options)


def _table(db: Database) -> list[tuple[str, str, str | None, Decimal, str]]:
    with db.unit_of_work(read_only=True) as session:
        return [
            (r.currency, r.valid_from.isoformat(), r.valid_to.isoformat() if r.valid_to else None, r.rate, r.source)
            for r in session.scalars(select(ExchangeRate).order_by(ExchangeRate.currency, ExchangeRate.valid_from))
        ]


def _loads(db: Database) -> list[dict[str, Any]]:
    with db.unit_of_work(read_only=True) as session:
        stmt = select(AuditRecord).where(AuditRecord.action == "exchange_rates.load").order_by(AuditRecord.seq)
        return [{"actor": r.actor_id, **r.detail} for r in session.scalars(stmt)]


def _refused(db: Database, data: bytes, kind: type[Exception] = ValidationFailed, **options: Any) -> list[Any]:
    before = table_counts(db)
    with pytest.raises(kind) as caught:
        _load(db, data, **options)
    assert table_counts(db) == before  # nothing written, not even an audit record
    assert isinstance(caught.value, ValidationFailed | RateConflict)
    return [(e.field, e.code, e.message) for e in caught.value.errors]


def test_a_table_loads_and_is_audited(db: Database) -> None:
    report = _load(db, TABLE)
    assert (len(report.added), len(report.replaced), len(report.unchanged)) == (4, 0, 0)
    assert _table(db) == [
        ("HKD", "2026-01-01", None, Decimal("0.91"), "rates.csv"),
        ("USD", "2026-01-01", "2026-01-31", Decimal("7.10"), "rates.csv"),
        ("USD", "2026-02-01", "2026-02-28", Decimal("7.20"), "rates.csv"),
        ("USD", "2026-03-01", None, Decimal("7.25"), "rates.csv"),
    ]
    with db.unit_of_work(read_only=True) as session:
        row = session.scalars(select(ExchangeRate)).first()
        assert row is not None and (row.to_currency, row.created_by, row.created_at) == ("CNY", "system", NOW)
    assert _loads(db) == [
        {
            "actor": "system",
            "source": "rates.csv",
            "replace": False,
            "added": 4,
            "replaced": 0,
            "unchanged": 0,
            "currencies": ["HKD", "USD"],
        }
    ]


def test_loading_the_same_rows_again_changes_nothing(db: Database) -> None:
    _load(db, TABLE)
    before = _table(db)
    report = _load(db, TABLE.replace(b"HKD,0.91,", b"HKD,0.910000,"))
    assert (len(report.added), len(report.replaced), len(report.unchanged)) == (0, 0, 4)
    assert _table(db) == before
    assert [entry["unchanged"] for entry in _loads(db)] == [0, 4]


def test_another_rate_for_a_start_day_is_a_conflict_unless_replaced(db: Database) -> None:
    _load(db, TABLE)
    changed = b"currency,rate,valid_from,valid_to\nUSD,7.30,2026-03-01,\nHKD,0.91,2026-01-01,\n"
    errors = _refused(db, changed, RateConflict)
    assert errors == [
        (
            "line 2: rate",
            "rate_conflict",
            "USD from 2026-03-01 already has the rate 7.25000000 (to -); load with replace to change it",
        )
    ]
    report = _load(db, changed, replace=True)
    assert ([p.valid_from for p in report.replaced], len(report.unchanged)) == ([date(2026, 3, 1)], 1)
    assert _table(db)[-1] == ("USD", "2026-03-01", None, Decimal("7.30"), "rates.csv")
    assert _loads(db)[-1] | {"currencies": None} == {
        "actor": "system",
        "source": "rates.csv",
        "replace": True,
        "added": 0,
        "replaced": 1,
        "unchanged": 1,
        "currencies": None,
    }


def test_every_bad_line_is_reported_and_nothing_is_written(db: Database) -> None:
    _load(db, TABLE)
    bad = b"""currency,rate,valid_from,valid_to
EUR,7.9,2026-01-01,
EUR,-1,2026-02-01,
GBP,x,2026-01-01,
ZZZ,1,2026-01-01,
EUR,8.0,2026-01-01,
"""
    errors = _refused(db, bad)
    assert [(field, code) for field, code, _ in errors] == [
        ("line 3: rate", "rate_not_positive"),
        ("line 4: rate", "invalid_rate"),
        ("line 5: currency", "unknown_currency"),
        ("line 6: valid_from", "duplicate_row"),
    ]


def test_an_overlap_or_a_gap_with_stored_rows_is_refused_naming_currency_and_dates(db: Database) -> None:
    _load(db, TABLE)
    overlap = b"currency,rate,valid_from,valid_to\nUSD,7.15,2026-01-15,2026-02-05\n"
    assert _refused(db, overlap) == [
        (
            "line 2: valid_from",
            "range_overlap",
            "USD: the rate for 2026-01-01 to 2026-01-31 overlaps the rate from 2026-01-15",
        ),
        (
            "line 2: valid_to",
            "range_overlap",
            "USD: the rate for 2026-01-15 to 2026-02-05 overlaps the rate from 2026-02-01",
        ),
    ]
    gap = b"currency,rate,valid_from,valid_to\nHKD,0.92,2025-11-01,2025-11-30\nHKD,0.93,2025-12-05,2025-12-31\n"
    assert _refused(db, gap) == [
        (
            "line 2: valid_to",
            "range_gap",
            "HKD: no rate covers 2025-12-01 to 2025-12-04, between the rate ending 2025-11-30 and the rate from"
            " 2025-12-05",
        )
    ]
    # An open row on the first uncovered day closes the gap: it lasts until the next row starts.
    assert len(_load(db, gap + b"HKD,0.925,2025-12-01,\n").added) == 3


def test_a_dry_run_reports_and_writes_nothing(db: Database) -> None:
    before = table_counts(db)
    report = _load(db, TABLE, dry_run=True)
    assert (report.dry_run, len(report.added)) == (True, 4)
    assert table_counts(db) == before


def test_only_administrators_load_and_other_staff_read(db: Database) -> None:
    with pytest.raises(PermissionDenied):
        _load(db, TABLE, actor=MANAGER)
    _load(db, TABLE)
    with db.unit_of_work(read_only=True) as session:
        listed = rates.list_rates(session, MANAGER, currency="usd", on=date(2026, 2, 14))
        assert [(r.currency, r.rate) for r in listed] == [("USD", Decimal("7.20"))]
        every = rates.list_rates(session, MANAGER, on=date(2026, 12, 1))
        assert [(r.currency, r.valid_from) for r in every] == [("HKD", date(2026, 1, 1)), ("USD", date(2026, 3, 1))]
        assert len(rates.list_rates(session, MANAGER)) == 4
        with pytest.raises(PermissionDenied):
            rates.list_rates(session, Principal(id="x", name="x", role="nobody"))


def test_rate_for_names_currency_and_day_when_nothing_covers_it(db: Database) -> None:
    _load(db, b"currency,rate,valid_from,valid_to\nUSD,7.10,2026-01-01,2026-01-31\n")
    with db.unit_of_work(read_only=True) as session:
        used = rates.rate_for(session, "USD", date(2026, 1, 31))
        assert used == RateUsed("USD", "CNY", Decimal("7.10000000"), date(2026, 1, 1), date(2026, 1, 31))
        assert rates.convert(Decimal("10.05"), used) == Decimal("71.36")
        with pytest.raises(NoExchangeRate) as caught:
            rates.rate_for(session, "usd", date(2026, 2, 1))
    assert caught.value.code == "no_exchange_rate"
    assert caught.value.message == "no exchange rate for USD covers 2026-02-01"
    assert caught.value.extra == {"currency": "USD", "date": "2026-02-01"}


def test_a_batch_of_lookups_is_one_query(db: Database) -> None:
    _load(db, TABLE)
    _load(db, b"currency,rate,valid_from\nJPY,0.047,2026-01-01\nJPY,0.048,2026-06-01\nJPY,0.049,2026-12-01\n")
    pairs = {
        ("USD", date(2025, 12, 31)),  # before the first USD row
        ("USD", date(2026, 1, 20)),
        ("USD", date(2026, 2, 28)),
        ("USD", date(2027, 5, 1)),
        ("HKD", date(2026, 7, 1)),
        ("JPY", date(2026, 6, 30)),
        ("JPY", date(2026, 11, 30)),
        ("EUR", date(2026, 6, 1)),  # no EUR rates at all
    }
    statements: list[str] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            statements.append(args[2])

    with db.unit_of_work(read_only=True) as session:
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            found = rates.rates_for(session, pairs, to_currency="CNY")
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert {key: (used.rate, used.valid_from) for key, used in found.items()} == {
        ("USD", date(2026, 1, 20)): (Decimal("7.10000000"), date(2026, 1, 1)),
        ("USD", date(2026, 2, 28)): (Decimal("7.20000000"), date(2026, 2, 1)),
        ("USD", date(2027, 5, 1)): (Decimal("7.25000000"), date(2026, 3, 1)),
        ("HKD", date(2026, 7, 1)): (Decimal("0.91000000"), date(2026, 1, 1)),
        ("JPY", date(2026, 6, 30)): (Decimal("0.04800000"), date(2026, 6, 1)),
        ("JPY", date(2026, 11, 30)): (Decimal("0.04800000"), date(2026, 6, 1)),
    }
