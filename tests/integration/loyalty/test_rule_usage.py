"""Caps and once-a-month bonuses remember what the member already earned, across orders and days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.orders import actions
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.schemas import ActionIn
from tests.factories import create_customer, post_order

FRIDAY = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 on a Friday in Shanghai


def _rule(db: Database, definition: dict[str, object]) -> None:
    with db.unit_of_work() as session:
        config.put_rule(session, SYSTEM, str(definition["code"]), definition)


def test_a_campaign_daily_cap_holds_across_orders_and_resets_the_next_day(db: Database) -> None:
    _rule(
        db,
        {
            "kind": "campaign_multiplier",
            "code": "friday",
            "name": "周五三倍",
            "multiplier": "3",
            "weekdays": [5],
            "daily_cap": 300,
            "priority": 300,
        },
    )
    with clock.frozen(FRIDAY) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            first = post_order(
                session, customer_id=customer.id, amount="100.00", external_id="F-1", occurred_at=now.now()
            )
        with db.unit_of_work() as session:
            second = post_order(
                session, customer_id=customer.id, amount="100.00", external_id="F-2", occurred_at=now.now()
            )
    # 100 base + 200 campaign; then 100 base + only 100 left of the campaign's 300 a day.
    assert (first.points_earned, second.points_earned) == (300, 200)
    assert [(a.rule, a.points) for a in second.awards] == [("base_rate", 100), ("friday", 100)]
    with clock.frozen(FRIDAY + timedelta(days=7)) as now, db.unit_of_work() as session:
        next_friday = post_order(
            session, customer_id=customer.id, amount="100.00", external_id="F-3", occurred_at=now.now()
        )
    assert next_friday.points_earned == 300


def test_a_campaign_cap_counts_every_day_of_the_campaign(db: Database) -> None:
    _rule(
        db,
        {
            "kind": "campaign_multiplier",
            "code": "double11",
            "name": "双十一",
            "multiplier": "2",
            "dates": ["2026-11-11", "2026-11-12"],
            "campaign_cap": 150,
        },
    )
    with clock.frozen(datetime(2026, 11, 11, 4, tzinfo=UTC)) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            day_one = post_order(
                session, customer_id=customer.id, amount="100.00", external_id="D-1", occurred_at=now.now()
            )
        now.advance(timedelta(days=1))
        with db.unit_of_work() as session:
            day_two = post_order(
                session, customer_id=customer.id, amount="100.00", external_id="D-2", occurred_at=now.now()
            )
    assert (day_one.points_earned, day_two.points_earned) == (200, 150)


def test_birthday_bonus_points_once_in_the_birthday_month(db: Database) -> None:
    _rule(db, {"kind": "birthday_bonus", "code": "birthday", "name": "生日月礼", "bonus_points": 88})
    with clock.frozen(FRIDAY) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session, birthday=date(1990, 11, 3))
            first = post_order(
                session, customer_id=customer.id, amount="10.00", external_id="B-1", occurred_at=now.now()
            )
        now.advance(timedelta(days=3))
        with db.unit_of_work() as session:
            again = post_order(
                session, customer_id=customer.id, amount="10.00", external_id="B-2", occurred_at=now.now()
            )
    assert (first.points_earned, again.points_earned) == (98, 10)


def test_a_program_wide_daily_cap_counts_check_ins_and_orders(db: Database) -> None:
    _rule(db, {"kind": "action_bonus", "code": "checkin", "name": "签到", "action": "checkin", "points": 5})
    _rule(db, {"kind": "daily_cap", "code": "cap", "name": "每日上限", "max_points": 50})
    with clock.frozen(FRIDAY) as now:
        with db.unit_of_work() as session:
            customer = create_customer(session)
            checkin = actions.perform(session, SYSTEM, customer.id, ActionIn(action="checkin"))
        with db.unit_of_work() as session:
            order = post_order(
                session, customer_id=customer.id, amount="100.00", external_id="C-1", occurred_at=now.now()
            )
    assert (checkin.points, order.points_earned, order.points_balance) == (5, 45, 50)
