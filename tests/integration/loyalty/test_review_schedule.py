"""Tier reviews follow one rule, `tiering`'s: enrolment stores the first review date, the daily
run holds each review once, on the program's date in its time zone (Asia/Shanghai), and a date
stored under earlier review settings is not a review day of its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import LoyaltyAccount, TierChange
from guanxi.loyalty.program.settings import ProgramSettingsIn
from guanxi.loyalty.rules import tiering
from guanxi.loyalty.tiers import service as tiers
from tests.factories import create_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def _set_review(db: Database, mode: str) -> None:
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, ProgramSettingsIn(review_mode=tiering.ReviewMode(mode)))


def _enrol(db: Database) -> str:
    with db.unit_of_work() as session:
        cfg = program.ensure(session)
        return ledger.enroll(session, cfg, create_customer(session).id, actor_id="t").id


def _next_review(db: Database, account_id: str) -> date | None:
    with db.unit_of_work(read_only=True) as session:
        account = session.get(LoyaltyAccount, account_id)
        assert account is not None
        return account.next_review_on


def _nightly(db: Database, now: clock.FrozenClock, first: date, last: date) -> list[tuple[date, int]]:
    """Run the review step at 00:05 local each night from `first` to `last`; (night, reviewed)."""
    held = []
    day = first
    while day <= last:
        now.set(_local(day.year, day.month, day.day, 0, 5))
        report = tiers.run_reviews(db)
        if report.reviewed:
            held.append((day, report.reviewed))
        day += timedelta(days=1)
    return held


@pytest.mark.parametrize(
    ("mode", "enrolled_at", "first_review"),
    [
        # 23:30 on 31 Dec in Shanghai is 15:30 UTC the same day; 00:30 on 1 Jan is still 31 Dec in UTC.
        ("annual", _local(2025, 12, 31, 23, 30), date(2026, 1, 1)),
        ("annual", _local(2026, 1, 1, 0, 30), date(2027, 1, 1)),
        ("anniversary", _local(2025, 12, 31, 23, 30), date(2026, 12, 31)),
        ("anniversary", _local(2026, 1, 1, 0, 30), date(2027, 1, 1)),
        ("anniversary", _local(2024, 2, 29, 0, 10), date(2025, 2, 28)),
        ("anniversary", _local(2024, 3, 1, 7, 59), date(2025, 3, 1)),  # 23:59 UTC on 29 Feb
    ],
)
def test_enrolment_stores_the_first_review_of_the_local_enrolment_day(
    db: Database, mode: str, enrolled_at: datetime, first_review: date
) -> None:
    with clock.frozen(enrolled_at) as now:
        _set_review(db, mode)
        account_id = _enrol(db)
        assert _next_review(db, account_id) == first_review
        # Nothing the night before; the review on its date, once; the next one a period on.
        eve = first_review - timedelta(days=1)
        assert _nightly(
            db, now, max(eve, enrolled_at.astimezone(SHANGHAI).date()), first_review + timedelta(days=3)
        ) == [(first_review, 1)]
        with db.unit_of_work(read_only=True) as session:
            cfg = program.ensure(session)
            expected = tiering.next_review_date(
                cfg.review, enrolled_on=enrolled_at.astimezone(SHANGHAI).date(), after=first_review
            )
    assert _next_review(db, account_id) == expected
    assert expected.year == first_review.year + 1


def test_review_settings_changed_after_enrolment_give_one_review_per_period(db: Database) -> None:
    """Enrolled on 31 Dec under anniversary reviews (31 Dec 2026 stored), then the program moves to
    reviews on 1 January: the member is reviewed on 1 Jan 2027 only, not on 31 Dec and again."""
    with clock.frozen(_local(2025, 12, 31, 12)) as now:
        _set_review(db, "anniversary")
        account_id = _enrol(db)
        assert _next_review(db, account_id) == date(2026, 12, 31)
        _set_review(db, "annual")
        assert _nightly(db, now, date(2026, 12, 29), date(2027, 1, 3)) == [(date(2027, 1, 1), 1)]
    assert _next_review(db, account_id) == date(2028, 1, 1)
    with db.unit_of_work(read_only=True) as session:
        kinds = session.scalars(
            select(TierChange.kind).where(TierChange.account_id == account_id).order_by(TierChange.id)
        ).all()
    assert kinds == ["enrol", "review_keep"]


def test_a_missed_review_is_held_once_for_the_latest_date(db: Database) -> None:
    with clock.frozen(_local(2025, 8, 20, 12)) as now:
        account_id = _enrol(db)
        assert _next_review(db, account_id) == date(2026, 1, 1)
        # The daily job is down until 3 Jan 2027, over two review dates: one review, then on time.
        assert _nightly(db, now, date(2027, 1, 3), date(2027, 1, 5)) == [(date(2027, 1, 3), 1)]
        assert _next_review(db, account_id) == date(2028, 1, 1)
        assert _nightly(db, now, date(2027, 12, 31), date(2028, 1, 2)) == [(date(2028, 1, 1), 1)]
    assert _next_review(db, account_id) == date(2029, 1, 1)
