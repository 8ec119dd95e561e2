"""Tiers move up at once and down only at the review after a grace period; points expire at the
end of their last local day; reminders go once; the CLI reports and verifies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.members import card
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import TierChange
from guanxi.loyalty.tiers import service as tiers
from tests.factories import create_customer, post_order

runner = CliRunner()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def _tier_changes(db: Database) -> list[tuple[str | None, str, str]]:
    with db.unit_of_work(read_only=True) as session:
        return [(c.from_tier, c.to_tier, c.kind) for c in session.scalars(select(TierChange).order_by(TierChange.id))]


def _events(db: Database, topic: str) -> list[dict[str, object]]:
    with db.unit_of_work(read_only=True) as session:
        query = select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == topic).order_by(outbox.OutboxEvent.id)
        return [e.payload for e in session.scalars(query)]


def test_upgrade_at_once_keep_at_review_then_downgrade_after_grace(db: Database) -> None:
    with clock.frozen(_at(2026, 3, 1)) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            silver = post_order(
                session, customer_id=customer.id, amount="2500.00", external_id="T-1", occurred_at=now.now()
            )
        assert silver.tier_change == {
            "from": "basic",
            "to": "silver",
            "kind": "upgrade",
            "reason": "growth value 2500 reached 银卡会员 threshold 2000",
        }
        with db.unit_of_work() as session:
            gold = post_order(
                session, customer_id=customer.id, amount="6000.00", external_id="T-2", occurred_at=now.now()
            )
        assert (gold.tier, gold.tier_change["to"] if gold.tier_change else None) == ("gold", "gold")
        assert [e["to"] for e in _events(db, "loyalty.tier_changed")] == ["silver", "gold"]

        now.set(_at(2027, 1, 1, 1))
        report = tiers.run_reviews(db, on=date(2027, 1, 1))
        assert (report.reviewed, report.kept, report.scheduled) == (1, 1, 0)
        with db.unit_of_work(read_only=True) as session:
            member = card.get_card(session, SYSTEM, customer.id)
        assert (member.tier.code, member.growth_value, member.next_review_on) == ("gold", 0, date(2028, 1, 1))

        now.set(_at(2028, 1, 1, 1))
        report = tiers.run_reviews(db, on=date(2028, 1, 1))
        assert (report.reviewed, report.scheduled) == (1, 1)
        with db.unit_of_work(read_only=True) as session:
            member = card.get_card(session, SYSTEM, customer.id)
        assert (member.tier.code, member.downgrade_to) == ("gold", "basic")
        assert member.downgrade_due_at == _at(2028, 2, 1, 0)  # end of 31 Jan in Shanghai

        now.set(_at(2028, 2, 1, 9))
        report = tiers.run_reviews(db, on=date(2028, 2, 1))
        assert report.downgraded == 1
    assert _tier_changes(db) == [
        (None, "basic", "enrol"),
        ("basic", "silver", "upgrade"),
        ("silver", "gold", "upgrade"),
        ("gold", "gold", "review_keep"),
        ("gold", "gold", "downgrade_scheduled"),
        ("gold", "basic", "downgrade"),
    ]
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def test_earning_the_shortfall_in_the_grace_period_keeps_the_tier(db: Database) -> None:
    with clock.frozen(_at(2026, 3, 1)) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            post_order(session, customer_id=customer.id, amount="9000.00", external_id="G-1", occurred_at=now.now())
        now.set(_at(2027, 1, 1, 1))
        tiers.run_reviews(db, on=date(2027, 1, 1))  # kept: 9000 >= 8000, growth starts again
        now.set(_at(2028, 1, 1, 1))
        tiers.run_reviews(db, on=date(2028, 1, 1))  # nothing earned in 2027: downgrade scheduled
        now.set(_at(2028, 1, 15))
        with db.unit_of_work() as session:
            partial = post_order(
                session, customer_id=customer.id, amount="5000.00", external_id="G-2", occurred_at=now.now()
            )
            assert partial.tier == "gold"
        with db.unit_of_work() as session:
            post_order(session, customer_id=customer.id, amount="3000.00", external_id="G-3", occurred_at=now.now())
        now.set(_at(2028, 2, 2))
        assert tiers.run_reviews(db, on=date(2028, 2, 2)).downgraded == 0
        with db.unit_of_work(read_only=True) as session:
            member = card.get_card(session, SYSTEM, customer.id)
    assert (member.tier.code, member.downgrade_due_at, member.growth_value) == ("gold", None, 8000)
    assert [kind for _, _, kind in _tier_changes(db)][-2:] == ["downgrade_scheduled", "downgrade_cancelled"]


def test_points_expire_after_their_last_day_once(db: Database) -> None:
    with clock.frozen(_at(2025, 11, 22, 23)) as now:  # 23:00 on 22 Nov 2025 in Shanghai
        with db.unit_of_work() as session:
            customer = create_customer(session)
            post_order(session, customer_id=customer.id, amount="300.00", external_id="X-1", occurred_at=now.now())
        now.advance(timedelta(hours=2))  # 01:00 on the 23rd: a day later
        with db.unit_of_work() as session:
            post_order(session, customer_id=customer.id, amount="50.00", external_id="X-2", occurred_at=now.now())
        now.set(_at(2026, 11, 22, 23))
        try:
            expiration.expire(db, as_of=date(2026, 11, 22))
            raise AssertionError("a day still in progress must not expire")
        except ValueError as exc:
            assert "has not ended yet" in str(exc)
        now.set(_at(2026, 11, 23, 0) + timedelta(minutes=5))
        report = expiration.expire(db)
        assert (report.as_of, report.accounts, report.lots, report.points) == (date(2026, 11, 22), 1, 1, 300)
        assert expiration.expire(db).lots == 0
        with db.unit_of_work(read_only=True) as session:
            member = card.get_card(session, SYSTEM, customer.id)
            assert (member.points_balance, member.lifetime_expired) == (50, 300)
            assert verify.check(session) == []
    assert _events(db, "loyalty.points_expired")[0]["points"] == 300


def test_expiry_beside_pending_points_that_matured_unreleased(db: Database) -> None:
    """The batch releases matured pending points under its lock; its bulk writes must not undo
    that release (nor the release undo the expiry)."""
    with clock.frozen(_at(2025, 11, 20)) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            config = program.ensure(session)
            account = ledger.enroll(session, config, customer.id, actor_id="t")
            ledger.credit(
                session, account, config, points=300, kind="earn", reason="order", source="order", actor_id="t"
            )
        now.set(_at(2026, 11, 1))
        with db.unit_of_work() as session:
            account = ledger.lock_accounts(session, [account.id])[account.id]
            ledger.credit(
                session,
                account,
                config,
                points=80,
                kind="earn",
                reason="order",
                source="order",
                actor_id="t",
                pending_days=7,
            )
        now.set(_at(2026, 11, 21, 1))  # the first lot's last day is over; the second matured unreleased
        report = expiration.expire(db)
        with db.unit_of_work(read_only=True) as session:
            member = card.get_card(session, SYSTEM, customer.id)
            assert verify.check(session) == []
    assert (report.lots, report.points) == (1, 300)
    assert (member.points_balance, member.pending_points, member.lifetime_expired) == (80, 0, 300)


def test_reminders_go_once_per_lead_time(db: Database) -> None:
    with clock.frozen(_at(2025, 12, 20)) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            post_order(session, customer_id=customer.id, amount="120.00", external_id="M-1", occurred_at=now.now())
        now.set(_at(2026, 11, 20))  # the points' last day is 20 Dec 2026: 30 days ahead
        assert expiration.send_reminders(db) == 1
        assert expiration.send_reminders(db) == 0
        now.set(_at(2026, 12, 13))  # 7 days ahead
        assert expiration.send_reminders(db) == 1
    payloads = _events(db, "loyalty.points_expiring")
    assert [(p["days_before"], p["points"], p["expires_on"]) for p in payloads] == [
        (30, 120, "2026-12-20"),
        (7, 120, "2026-12-20"),
    ]
    assert payloads[0]["customer_id"] == customer.id


def test_cli_expire_and_verify(db: Database) -> None:
    with clock.frozen(_at(2026, 11, 20)):
        with db.unit_of_work() as session:
            customer = create_customer(session)
            post_order(session, customer_id=customer.id, amount="100.00", external_id="C-1")
        result = runner.invoke(app, ["loyalty", "verify"])
        assert result.exit_code == 0, result.output
        assert "every invariant holds" in result.output
        refused = runner.invoke(app, ["loyalty", "expire", "--as-of", "2026-11-20"])
        assert refused.exit_code == 2
        assert "has not ended yet" in refused.output
        bad = runner.invoke(app, ["loyalty", "expire", "--as-of", "yesterday"])
        assert bad.exit_code == 2
        done = runner.invoke(app, ["loyalty", "expire", "--as-of", "2026-11-19"])
        assert done.exit_code == 0, done.output
        assert "expired 0 points in 0 lots of 0 accounts" in done.output
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE loyalty_accounts SET points_balance = points_balance + 5"))
    broken = runner.invoke(app, ["loyalty", "verify"])
    assert broken.exit_code == 1
    assert "balance = sum of entries" in broken.output
    assert "balance 105 + pending 0 != entries 100" in broken.output
