"""The production schedule over three simulated nights (31 Dec 2026 to 2 Jan 2027, Shanghai):
each step's real effect on each night, in the order the consumer runs them; the periodic tasks
and `guanxi loyalty daily` run the same steps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.customers import event_types, events
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.customers.models import CustomerTag
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.jobs import queue, schedule
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration
from guanxi.loyalty.members import card
from guanxi.loyalty.program.models import LoyaltyAccount, TierChange
from guanxi.loyalty.tiers import service as tiers
from guanxi.marketing import tag_rules
from guanxi.marketing.schemas import TagRuleIn
from tests.factories import create_customer, post_order

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOGIN_30 = {"rules": [{"field": "event", "op": "did", "value": "login", "window": {"last_days": 30}}]}


def _at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def _night(day: date) -> datetime:
    """04:00 local: after every daily step's slot (00:05 loyalty ... 03:50 duplicates)."""
    return datetime(day.year, day.month, day.day, 4, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(_at(2025, 12, 31)) as now:
        yield now


def _plant(db: Database, now: clock.FrozenClock) -> dict[str, str]:
    ids: dict[str, str] = {}
    with db.unit_of_work() as session:
        # 300 points earned on 31 Dec 2025: their last spendable day is 31 Dec 2026.
        ids["expiring"] = create_customer(session, name="王芳", birthday=date(1970, 1, 9), city="上海").id
        post_order(session, customer_id=ids["expiring"], amount="300.00", external_id="S-1", occurred_at=now.now())
    # The night of 1 Jan 2026 runs as in production: the member's first annual review (their
    # enrolment on 31 Dec makes the first period one day) is held on its date, once.
    now.set(_night(date(2026, 1, 1)))
    first_review = schedule.run_daily(db, steps=("loyalty",)).loyalty
    assert first_review is not None
    assert _reviews(first_review.reviews) == (1, 1, 0, 0)
    now.set(_at(2026, 3, 1))
    with db.unit_of_work() as session:
        # Silver since March with 2,500 growth: kept at the review on 1 Jan 2027.
        ids["silver"] = create_customer(session, name="赵强", birthday=date(1980, 3, 3), city="成都").id
        post_order(session, customer_id=ids["silver"], amount="2500.00", external_id="S-2", occurred_at=now.now())
        # The planted duplicate pair: a homophone, the same birthday and city, a phone one digit off.
        ids["dup_a"] = create_customer(
            session, name="张敏", birthday=date(1985, 2, 3), city="北京", phone="13912345678"
        ).id
        ids["dup_b"] = create_customer(
            session, name="章敏", birthday=date(1985, 2, 3), city="北京", phone="13912345679"
        ).id
        ids["active"] = create_customer(session, name="刘洋", birthday=date(1995, 6, 6), city="广州").id
    now.set(_at(2026, 12, 2))
    with db.unit_of_work() as session:
        event_types.update_type(session, SYSTEM, "page_view", {"retention_days": 30})
        # A view on 1 Dec (past its 30 days on the second night) and a login on 2 Dec (the rule's
        # 30-day window lets go of it on the third night).
        batch: list[dict[str, Any]] = [
            {"event_id": "view-1", "type": "page_view", "customer_id": ids["active"], "occurred_at": _at(2026, 12, 1)},
            {"event_id": "login-1", "type": "login", "customer_id": ids["active"], "occurred_at": _at(2026, 12, 2)},
        ]
        for event in batch:
            event["occurred_at"] = event["occurred_at"].isoformat()
        events.ingest(session, SYSTEM, batch)
    with db.unit_of_work() as session:
        tag_rules.create_rule(session, SYSTEM, TagRuleIn(code="recent_login", tag="近期登录", conditions=LOGIN_30))
    return ids


def _expired(report: expiration.ExpiryReport) -> tuple[date, int, int, int]:
    return (report.as_of, report.accounts, report.lots, report.points)


def _reviews(report: tiers.ReviewReport) -> tuple[int, int, int, int]:
    return (report.reviewed, report.kept, report.scheduled, report.downgraded)


def _tier_changes(session: Session, customer_id: str) -> list[tuple[str, str]]:
    return [
        (c.kind, c.to_tier)
        for c in session.scalars(
            select(TierChange)
            .join(LoyaltyAccount, LoyaltyAccount.id == TierChange.account_id)
            .where(LoyaltyAccount.customer_id == customer_id, TierChange.kind != "enrol")
            .order_by(TierChange.id)
        )
    ]


def _state(db: Database, ids: dict[str, str]) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        expiring = card.get_card(session, SYSTEM, ids["expiring"])
        silver = card.get_card(session, SYSTEM, ids["silver"])
        return {
            "points": expiring.points_balance,
            "expired": expiring.lifetime_expired,
            "tier": (silver.tier.code, silver.next_review_on),
            "tier_changes": _tier_changes(session, ids["silver"]),
            "expiring_tier": (expiring.tier.code, expiring.next_review_on),
            "expiring_tier_changes": _tier_changes(session, ids["expiring"]),
            "tagged": sorted(session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag == "近期登录"))),
            "events": sorted(session.scalars(select(CustomerEvent.event_id))),
            "snapshots": session.scalar(select(func.count()).select_from(QualitySnapshot)),
            "candidates": sorted(
                tuple(sorted((c.customer_a_id, c.customer_b_id))) for c in session.scalars(select(DuplicateCandidate))
            ),
        }


def test_three_nights_of_the_production_schedule(db: Database, frozen: clock.FrozenClock) -> None:
    ids = _plant(db, frozen)
    pair = [tuple(sorted((ids["dup_a"], ids["dup_b"])))]

    frozen.set(_night(date(2026, 12, 31)))
    first = schedule.run_daily(db)
    assert list(first.results) == ["loyalty", "outbox", "analytics", "tag_rules", "duplicates", "customer_data"]
    assert first.loyalty is not None
    assert _expired(first.loyalty.expired) == (date(2026, 12, 30), 0, 0, 0)
    assert _reviews(first.loyalty.reviews) == (0, 0, 0, 0)  # nobody's review date is 31 Dec
    assert first.results["tag_rules"] == ["recent_login: +0 -0"]
    assert first.duplicates is not None
    assert (first.duplicates.customers, first.duplicates.created, first.duplicates.updated) == (5, 1, 0)
    with db.unit_of_work(read_only=True) as session:  # the night's check counts the night's pair
        snapshot = session.scalars(select(QualitySnapshot)).one()
        assert snapshot.report["duplicate_customers"] == 2
    assert _state(db, ids) == {
        "points": 300,
        "expired": 0,
        "tier": ("silver", date(2027, 1, 1)),
        "tier_changes": [("upgrade", "silver")],
        "expiring_tier": ("basic", date(2027, 1, 1)),
        "expiring_tier_changes": [("review_keep", "basic")],
        "tagged": [ids["active"]],
        "events": ["login-1", "view-1"],
        "snapshots": 1,
        "candidates": pair,
    }

    frozen.set(_night(date(2027, 1, 1)))
    second = schedule.run_daily(db)
    assert second.loyalty is not None
    assert _expired(second.loyalty.expired) == (date(2026, 12, 31), 1, 1, 300)
    assert _reviews(second.loyalty.reviews) == (2, 2, 0, 0)  # both members, each once
    assert second.duplicates is not None
    assert (second.duplicates.customers, second.duplicates.created, second.duplicates.updated) == (5, 0, 1)
    assert _state(db, ids) == {
        "points": 0,
        "expired": 300,
        "tier": ("silver", date(2028, 1, 1)),
        "tier_changes": [("upgrade", "silver"), ("review_keep", "silver")],
        "expiring_tier": ("basic", date(2028, 1, 1)),
        "expiring_tier_changes": [("review_keep", "basic"), ("review_keep", "basic")],
        "tagged": [ids["active"]],
        "events": ["login-1"],  # the view of 1 Dec is past its type's 30 days
        "snapshots": 2,
        "candidates": pair,
    }

    frozen.set(_night(date(2027, 1, 2)))
    third = schedule.run_daily(db)
    assert third.loyalty is not None
    assert _expired(third.loyalty.expired) == (date(2027, 1, 1), 0, 0, 0)
    assert _reviews(third.loyalty.reviews) == (0, 0, 0, 0)
    assert third.results["tag_rules"] == ["recent_login: +0 -1"]  # the login left the 30-day window
    state = _state(db, ids)
    assert (state["points"], state["expired"], state["tagged"], state["snapshots"]) == (0, 300, [], 3)
    assert state["tier_changes"] == [("upgrade", "silver"), ("review_keep", "silver")]
    assert state["expiring_tier_changes"] == [("review_keep", "basic"), ("review_keep", "basic")]


def test_a_step_run_twice_the_same_night_does_nothing_more(db: Database, frozen: clock.FrozenClock) -> None:
    ids = _plant(db, frozen)
    frozen.set(_night(date(2027, 1, 1)))
    schedule.run_daily(db, steps=("loyalty",))
    again = schedule.run_daily(db, steps=("loyalty",))
    assert list(again.results) == ["loyalty"]
    assert again.loyalty is not None
    assert _expired(again.loyalty.expired) == (date(2026, 12, 31), 0, 0, 0)
    assert _reviews(again.loyalty.reviews) == (0, 0, 0, 0)
    assert (again.loyalty.released, again.loyalty.reminded, again.loyalty.coupons_expired) == (0, 0, 0)
    assert (again.loyalty.birthday_coupons, again.loyalty.win_back_coupons) == (0, 0)
    state = _state(db, ids)
    assert (state["points"], state["expired"], state["tier_changes"]) == (
        0,
        300,
        [("upgrade", "silver"), ("review_keep", "silver")],
    )


def test_unknown_steps_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown daily steps: nightly"):
        schedule.run_daily(db, steps=("loyalty", "nightly"))


def test_the_periodic_tasks_and_the_cli_run_the_schedules_steps(db: Database, frozen: clock.FrozenClock) -> None:
    ids = _plant(db, frozen)
    frozen.set(_night(date(2027, 1, 1)))
    lines = CliRunner().invoke(app, ["loyalty", "daily"])
    assert lines.exit_code == 0, lines.output
    assert "expired 300 points in 1 lots of 1 accounts (last day 2026-12-31)" in lines.output
    assert queue.loyalty_daily.call_local()[1] == "expired 0 points in 0 lots of 0 accounts (last day 2026-12-31)"
    assert queue.customer_data_daily.call_local().endswith("purged {'page_view': 1}")
    assert queue.tag_rules_nightly.call_local() == ["recent_login: +0 -0"]
    assert queue.duplicates_nightly.call_local() == "5 customers: 1 new candidates, 0 re-scored"
    state = _state(db, ids)
    assert (state["expired"], state["events"], state["snapshots"], len(state["candidates"])) == (300, ["login-1"], 1, 1)
    # The loyalty task runs hourly: at 01:05 the same night it finds nothing left to do.
    frozen.advance(timedelta(hours=1))
    assert queue.loyalty_daily.call_local()[1] == "expired 0 points in 0 lots of 0 accounts (last day 2026-12-31)"
    assert _state(db, ids)["expired"] == 300
