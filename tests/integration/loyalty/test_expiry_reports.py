"""An expiry run reports what that run expired: a rerun at the same cutoff reports nothing, and a
lot that falls due after a first run is reported alone, never with the first run's points."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.members import card
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import PointEntry
from guanxi.loyalty.rules import expiry
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer, post_order

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def _figures(report: expiration.ExpiryReport) -> tuple[date, int, int, int]:
    return (report.as_of, report.accounts, report.lots, report.points)


def _expire_audits(db: Database) -> list[dict[str, object]]:
    with db.unit_of_work(read_only=True) as session:
        query = select(AuditRecord).where(AuditRecord.action == "loyalty.expire").order_by(AuditRecord.seq)
        return [dict(record.detail or {}) for record in session.scalars(query)]


def test_a_rerun_on_the_same_day_reports_nothing(db: Database) -> None:
    with clock.frozen(_at(2025, 11, 22)) as now:
        with db.unit_of_work() as session:
            first = create_customer(session, name="王芳")
            second = create_customer(session, name="李雷")
            post_order(session, customer_id=first.id, amount="300.00", external_id="R-1", occurred_at=now.now())
            post_order(session, customer_id=second.id, amount="50.00", external_id="R-2", occurred_at=now.now())
        now.set(_at(2026, 11, 23, 0) + timedelta(minutes=5))
        assert _figures(expiration.expire(db)) == (date(2026, 11, 22), 2, 2, 350)
        now.advance(timedelta(hours=1))  # the hourly task again, the same night
        assert _figures(expiration.expire(db)) == (date(2026, 11, 22), 0, 0, 0)
        with db.unit_of_work(read_only=True) as session:
            balances = [card.get_card(session, SYSTEM, c.id) for c in (first, second)]
            assert verify.check(session) == []
            expired_entries = session.scalars(
                select(PointEntry.points).where(PointEntry.kind == "expire").order_by(PointEntry.id)
            ).all()
    assert [(b.points_balance, b.lifetime_expired) for b in balances] == [(0, 300), (0, 50)]
    assert expired_entries == [-300, -50]
    # Only the run that expired something is audited, with its own figures.
    assert _expire_audits(db) == [{"as_of": "2026-11-22", "accounts": 2, "lots": 2, "points": 350}]


def test_a_lot_due_after_a_first_run_is_reported_alone(db: Database) -> None:
    with clock.frozen(_at(2025, 11, 22)) as now:
        with db.unit_of_work() as session:
            early = create_customer(session, name="王芳")
            post_order(session, customer_id=early.id, amount="300.00", external_id="L-1", occurred_at=now.now())
            config = program.ensure(session)
            late = ledger.enroll(session, config, create_customer(session, name="李雷").id, actor_id="t")
        now.set(_at(2026, 11, 23, 0) + timedelta(minutes=5))
        assert _figures(expiration.expire(db)) == (date(2026, 11, 22), 1, 1, 300)
        with db.unit_of_work() as session:
            # Points given now that were only good through the day that has ended (a transfer
            # keeps the sender's expiry): the next run expires them, and only them.
            account = ledger.lock_accounts(session, [late.id])[late.id]
            ledger.credit(
                session,
                account,
                config,
                points=40,
                kind="adjust",
                reason="correction",
                source="adjustment",
                actor_id="t",
                expires_at=expiry.end_of_day_utc(date(2026, 11, 22), config.timezone),
            )
        now.advance(timedelta(hours=1))
        assert _figures(expiration.expire(db)) == (date(2026, 11, 22), 1, 1, 40)
        with db.unit_of_work(read_only=True) as session:
            assert verify.check(session) == []
    assert [d["points"] for d in _expire_audits(db)] == [300, 40]
