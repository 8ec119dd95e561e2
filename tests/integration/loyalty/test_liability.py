"""The liability report on a hand-built ledger: outstanding points by local expiry month with their
value, overdue and never-expiring points, debts, breakage from used / settled / expired history
(reversals and transfers left out), the expected cost and the monthly flows, all exact."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.insights import liability
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.rules import expiry
from tests.api.helpers import table_counts
from tests.factories import create_customer

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MARCH = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
APRIL_2 = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
TZ = "Asia/Shanghai"


def _end_of(day: date) -> datetime:
    return expiry.end_of_day_utc(day, TZ)


def _accounts(db: Database, names: str) -> dict[str, str]:
    ids = {}
    with db.unit_of_work() as session:
        config = program.ensure(session)
        for name in names:
            customer = create_customer(session, name=f"会员{name}")
            ids[name] = ledger.enroll(session, config, customer.id).id
    return ids


def _credit(
    db: Database,
    account_id: str,
    points: int,
    *,
    expires: datetime | str | None = "program",
    order_id: str | None = None,
    pending_days: int = 0,
) -> None:
    with db.unit_of_work() as session:
        config = program.ensure(session)
        account = ledger.lock_accounts(session, [account_id])[account_id]
        ledger.credit(
            session,
            account,
            config,
            points=points,
            kind="earn",
            reason="order",
            source="order",
            actor_id="t",
            expires_at=expires,
            order_id=order_id,
            pending_days=pending_days,
        )


def _redeem(db: Database, account_id: str, points: int) -> None:
    with db.unit_of_work() as session:
        account = ledger.lock_accounts(session, [account_id])[account_id]
        ledger.debit(session, account, points=points, kind="redeem", reason="reward", actor_id="t")


def _refund(db: Database, account_id: str, points: int, order_id: str) -> None:
    with db.unit_of_work() as session:
        config = program.ensure(session)
        account = ledger.lock_accounts(session, [account_id])[account_id]
        ledger.reverse(
            session,
            account,
            config,
            points=points,
            order_id=order_id,
            refund_id=None,
            actor_id="t",
            policy="allow_negative",
        )


def _transfer(db: Database, source: str, target: str, points: int) -> None:
    with db.unit_of_work() as session:
        config = program.ensure(session)
        accounts = ledger.lock_accounts(session, [source, target])
        ledger.transfer(session, accounts[source], accounts[target], config, points=points, actor_id="t")


@pytest.fixture
def ledger_history(db: Database) -> dict[str, str]:
    """Eight members, a year of history (March earnings, April redemptions and refunds, a June
    expiry) and today's open lots in four months plus one that never expires."""
    with clock.frozen(MARCH) as fake:
        ids = _accounts(db, "ABCDEFG")
        _credit(db, ids["C"], 4000, expires=_end_of(date(2026, 6, 30)))
        _credit(db, ids["D"], 500, order_id="order-d")  # program expiry: through 2027-03-01
        _credit(db, ids["E"], 100, order_id="order-e")
        _credit(db, ids["G"], 100, order_id="order-g")
        fake.set(APRIL)
        _redeem(db, ids["C"], 1000)
        _redeem(db, ids["E"], 100)
        _redeem(db, ids["G"], 100)
        fake.set(APRIL_2)
        _refund(db, ids["D"], 200, "order-d")  # from the order's own lot: a reversal, not breakage
        _refund(db, ids["E"], 100, "order-e")  # already spent: a debt of 100
        _refund(db, ids["G"], 100, "order-g")  # the same: G still owes 100 today
        fake.set(JULY)
        assert expiration.expire(db, as_of=date(2026, 6, 30)).points == 3000
        fake.set(NOW)
        _credit(db, ids["A"], 5000, expires=_end_of(date(2026, 12, 15)))
        _credit(db, ids["A"], 3000, expires=_end_of(date(2027, 1, 31)))
        _credit(db, ids["A"], 100, expires=None)
        _credit(db, ids["B"], 2000, expires=_end_of(date(2027, 3, 10)))
        _credit(db, ids["B"], 700, expires=_end_of(date(2027, 3, 20)), pending_days=30)
        _credit(db, ids["F"], 50, expires=_end_of(date(2026, 11, 18)))  # overdue: the job has not run
        _credit(db, ids["E"], 150, expires=_end_of(date(2027, 1, 31)))  # settles E's debt of 100
        _transfer(db, ids["A"], ids["B"], 300)  # from A's December lot into a December lot of B's
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
    return ids


def _report(db: Database, actor: Principal = SYSTEM, **kwargs: object) -> liability.LiabilityReport:
    with clock.frozen(NOW), db.unit_of_work(read_only=True) as session:
        return liability.liability(session, actor, **kwargs)  # type: ignore[arg-type]


def test_outstanding_points_by_expiry_month_with_value_and_expected_cost(
    db: Database, ledger_history: dict[str, str]
) -> None:
    report = _report(db)
    # used: C 1000 + E 100 + G 100 redeemed, E's debt of 100 settled; expired: C 3000.
    assert report.breakage.model_dump() == {
        "rate": Decimal("0.6977"),
        "source": "history",
        "used_points": 1300,
        "expired_points": 3000,
        "moved_points": 4300,
        "window_start": datetime(2025, 11, 20, 2, 0, tzinfo=UTC),
        "window_end": NOW,
        "min_points": 1000,
        "note": None,
    }
    keep = Decimal(1) - Decimal("0.6977")
    assert [b.model_dump() for b in report.by_expiry_month] == [
        {
            "month": "2026-11",
            "available_points": 50,
            "pending_points": 0,
            "points": 50,
            "value": Decimal("0.50"),
            "expected_cost": Decimal("0.15"),
        },
        {
            "month": "2026-12",
            "available_points": 5000,
            "pending_points": 0,
            "points": 5000,
            "value": Decimal("50.00"),
            "expected_cost": Decimal("15.12"),
        },
        {
            "month": "2027-01",
            "available_points": 3050,
            "pending_points": 0,
            "points": 3050,
            "value": Decimal("30.50"),
            "expected_cost": Decimal("9.22"),
        },
        {
            "month": "2027-03",
            "available_points": 2300,
            "pending_points": 700,
            "points": 3000,
            "value": Decimal("30.00"),
            "expected_cost": Decimal("9.07"),
        },
        {
            "month": None,
            "available_points": 100,
            "pending_points": 0,
            "points": 100,
            "value": Decimal("1.00"),
            "expected_cost": Decimal("1.00"),
        },
    ]
    assert report.available_points == 10500
    assert report.pending_points == 700
    assert report.outstanding_points == 11200
    assert report.outstanding_value == Decimal("112.00")
    assert report.overdue_points == 50
    assert report.point_value == Decimal("0.01")
    assert report.currency == "CNY"
    # Expiring points keep (1 - breakage) of their value; never-expiring points keep all of it.
    assert report.expected_cost == (Decimal(11100) * keep * Decimal("0.01") + Decimal("1.00")).quantize(Decimal("0.01"))
    assert report.expected_cost == Decimal("34.56")
    assert (report.debt_points, report.debt_accounts, report.debt_value) == (100, 1, Decimal("1.00"))


def test_monthly_flows_for_the_last_twelve_local_months(db: Database, ledger_history: dict[str, str]) -> None:
    history = {m.month: m.model_dump(exclude={"month"}) for m in _report(db).history}
    assert list(history) == ["2025-12", *(f"2026-{m:02d}" for m in range(1, 12))]
    empty = {"issued": 0, "redeemed": 0, "expired": 0, "reversed": 0}
    assert history["2026-03"] == {**empty, "issued": 4700}
    assert history["2026-04"] == {**empty, "redeemed": 1200, "reversed": 400}
    # Expired at the end of 30 June (00:00 on 1 July in Shanghai): June's.
    assert history["2026-06"] == {**empty, "expired": 3000}
    # Transfers move points between members: not issued.
    assert history["2026-11"] == {**empty, "issued": 11000}
    assert all(history[m] == empty for m in history if m not in ("2026-03", "2026-04", "2026-06", "2026-11"))


def test_thin_history_falls_back_to_no_breakage_and_says_so(db: Database) -> None:
    with clock.frozen(NOW):
        ids = _accounts(db, "A")
        _credit(db, ids["A"], 900, expires=_end_of(date(2027, 5, 31)))
        _redeem(db, ids["A"], 400)
    report = _report(db)
    assert report.breakage.source == "default"
    assert report.breakage.rate == Decimal("0.0000")
    assert (report.breakage.used_points, report.breakage.expired_points) == (400, 0)
    assert report.breakage.note is not None
    assert "400 points" in report.breakage.note and "0%" in report.breakage.note
    assert [(b.month, b.points) for b in report.by_expiry_month] == [("2027-05", 500)]
    assert report.expected_cost == report.outstanding_value == Decimal("5.00")


def test_an_empty_ledger_reports_zeros(db: Database) -> None:
    report = _report(db)
    assert report.by_expiry_month == []
    assert (report.outstanding_points, report.expected_cost, report.debt_points) == (0, Decimal("0.00"), 0)
    assert len(report.history) == 12
    assert report.breakage.source == "default"


def test_as_of_moves_the_history_windows(db: Database, ledger_history: dict[str, str]) -> None:
    report = _report(db, as_of=datetime(2026, 6, 1, tzinfo=UTC))
    assert report.history[-1].month == "2026-06"
    # Before the June expiry only the April redemptions had left lots: 1200 points, none expired.
    assert (report.breakage.used_points, report.breakage.expired_points) == (1200, 0)
    assert report.breakage.rate == Decimal("0.0000") and report.breakage.source == "history"


@pytest.mark.parametrize(
    ("as_of", "code"),
    [(datetime(2026, 12, 1, tzinfo=UTC), "future_date"), (datetime(2026, 6, 1), "naive_datetime")],
)
def test_a_bad_as_of_names_the_field(db: Database, as_of: datetime, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _report(db, as_of=as_of)
    assert [(e.field, e.code) for e in caught.value.errors] == [("as_of", code)]


@pytest.mark.parametrize("role", ["sales", "service", "integration"])
def test_roles_without_liability_read_are_refused(db: Database, role: str) -> None:
    with pytest.raises(PermissionDenied):
        _report(db, actor=Principal(id="u1", name="u1", role=role))


def test_the_report_writes_nothing(db: Database, ledger_history: dict[str, str]) -> None:
    before = table_counts(db)
    _report(db, actor=Principal(id="u2", name="u2", role="analyst"))
    assert table_counts(db) == before
