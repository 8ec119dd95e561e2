"""The nightly coupon jobs over a run of days: exactly which members get which birthday and
win-back coupons on which day (birthdays around 29 February, lapsed and returning members, members
already offered a coupon, tier-limited templates), with their history and outbox events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, literal, select, update

from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.models import UTCDateTime
from guanxi.kit.outbox import OutboxEvent
from guanxi.loyalty.catalog import coupon_jobs
from guanxi.loyalty.catalog.models import Coupon, CouponEvent, CouponTemplate
from guanxi.loyalty.rules import expiry
from tests.factories import post_order
from tests.integration.loyalty.coupon_helpers import NOW, customer, template

SEED = 20261120
MEMBERS = 36
DAYS = 110  # 20 November 2026 to 9 March 2027: takes in 28 February of a year without 29 February
SPECIAL_BIRTHDAYS = [
    date(1992, 2, 29),
    date(1996, 2, 29),
    date(1990, 2, 28),
    date(1985, 3, 1),
    date(1988, 11, 20),
    date(1991, 11, 21),
    date(1979, 12, 31),
    date(1980, 1, 1),
    None,
]


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _plan(rng: random.Random) -> list[tuple[date | None, bool, list[tuple[int, str, int]]]]:
    """Per customer: birthday, whether they are a member, and their orders (day, amount, days back)."""
    plan = []
    for index in range(MEMBERS):
        if index < len(SPECIAL_BIRTHDAYS):
            birthday = SPECIAL_BIRTHDAYS[index]
        else:
            birthday = date(rng.randint(1960, 2004), 2 if index % 5 == 0 else rng.randint(1, 12), rng.randint(1, 28))
        member = index % 7 != 3
        orders: list[tuple[int, str, int]] = []
        if member:
            for _ in range(rng.choice([1, 1, 2, 3])):
                orders.append((rng.randrange(0, DAYS - 20), rng.choice(["80.00", "2500.00", "9000.00"]), 0))
            if index % 11 == 5:  # an order recorded late, dated a few days back
                orders.append((rng.randrange(20, DAYS), "60.00", 3))
        plan.append((birthday, member, sorted(orders)))
    return plan


def test_the_jobs_issue_the_same_coupons_day_by_day(db: Database, frozen: clock.FrozenClock) -> None:
    template(db, code="bday", trigger="birthday")
    template(db, code="bday-gold", trigger="birthday", trigger_params={"tiers": ["gold", "diamond"]})
    template(db, code="miss-30", trigger="win_back", trigger_params={"inactive_days": 30}, per_customer_limit=None)
    template(db, code="miss-75", trigger="win_back", trigger_params={"inactive_days": 75}, per_customer_limit=None)
    rng = random.Random(SEED)
    plan = _plan(rng)
    ids = [customer(db, "会员" + chr(0x4E00 + index), birthday=birthday) for index, (birthday, _, _) in enumerate(plan)]
    index_of = {customer_id: index for index, customer_id in enumerate(ids)}
    daily: list[tuple[int, int, int, int]] = []
    for day in range(DAYS):
        frozen.set(NOW + timedelta(days=day, minutes=rng.randrange(0, 600)))
        with db.unit_of_work() as session:
            for index, (_, _, orders) in enumerate(plan):
                for n, (on, amount, back) in enumerate(orders):
                    if on == day:
                        post_order(
                            session,
                            customer_id=ids[index],
                            amount=amount,
                            external_id=f"o-{index}-{n}",
                            occurred_at=clock.now() - timedelta(days=back),
                        )
        if day == 40:  # a lapsed member leaves: no more coupons for them
            with db.unit_of_work() as session:
                session.execute(update(Customer).where(Customer.id == ids[10]).values(deleted_at=clock.now()))
        expired = coupon_jobs.expire_coupons(db)
        birthday = coupon_jobs.issue_birthday(db)
        win_back = coupon_jobs.issue_win_back(db)
        if expired or birthday or win_back:
            daily.append((day, expired, birthday, win_back))
        if day == 60:  # a rerun the same day issues nothing more
            assert (coupon_jobs.issue_birthday(db), coupon_jobs.issue_win_back(db)) == (0, 0)

    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(Coupon.customer_id, CouponTemplate.code, Coupon.issue_key, Coupon.created_at, Coupon.status).join(
                CouponTemplate, CouponTemplate.id == Coupon.template_id
            )
        ).tuples()
        issued = sorted(
            ((created.date() - NOW.date()).days, index_of[customer_id], code, key, status)
            for customer_id, code, key, created, status in rows
        )
        events = session.scalar(select(func.count()).select_from(CouponEvent))
        outbox_events = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == "loyalty.coupon_issued")
        )
    assert daily == EXPECTED_DAILY
    assert issued == EXPECTED_COUPONS
    assert events == len(EXPECTED_COUPONS) + sum(expired for _, expired, _, _ in EXPECTED_DAILY)
    assert outbox_events == len(EXPECTED_COUPONS)


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"])
def test_the_database_names_the_same_local_day_as_python(db: Database, tz: str) -> None:
    """Win-back issue keys name the last order's local day; the job's SQL for that day agrees with
    `expiry.local_date` at each offset change (daylight saving) and around it."""
    since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    spans = coupon_jobs._offset_spans(tz, since, until)
    changes = [before for before, _ in spans if before is not None]
    assert len(changes) == (0 if tz == "Asia/Shanghai" else 4)
    rng = random.Random(SEED)
    instants = [since, until, *(since + timedelta(seconds=rng.randrange(0, 63_158_400)) for _ in range(40))]
    for change in changes:
        instants += [change + timedelta(seconds=s) for s in (-3601, -1, 0, 1, 3600, 43_200)]
    with db.unit_of_work(read_only=True) as session:
        for at in instants:
            local = session.scalar(select(coupon_jobs._local_day_text(session, literal(at, UTCDateTime()), spans)))
            assert local == expiry.local_date(at, tz).isoformat(), at


# (day, coupons expired, birthday coupons, win-back coupons) on the days anything happened
EXPECTED_DAILY: list[tuple[int, int, int, int]] = [
    (30, 0, 0, 1),
    (36, 0, 0, 1),
    (37, 0, 1, 0),
    (38, 0, 0, 1),
    (41, 0, 0, 2),
    (43, 0, 2, 0),
    (46, 0, 0, 1),
    (51, 0, 0, 2),
    (52, 0, 0, 1),
    (56, 0, 0, 1),
    (57, 0, 0, 1),
    (58, 0, 2, 0),
    (61, 1, 0, 0),
    (62, 0, 0, 1),
    (65, 0, 0, 4),
    (67, 1, 0, 1),
    (68, 1, 0, 0),
    (69, 1, 0, 0),
    (72, 2, 0, 0),
    (73, 0, 1, 0),
    (74, 2, 0, 1),
    (75, 0, 1, 1),
    (76, 0, 1, 0),
    (77, 1, 2, 0),
    (78, 0, 0, 2),
    (82, 2, 0, 0),
    (83, 1, 0, 1),
    (84, 0, 1, 1),
    (85, 0, 0, 1),
    (87, 1, 0, 0),
    (88, 1, 1, 0),
    (89, 2, 0, 0),
    (90, 0, 0, 1),
    (91, 0, 0, 3),
    (93, 1, 0, 0),
    (94, 0, 0, 1),
    (96, 4, 0, 1),
    (98, 1, 0, 0),
    (99, 0, 2, 0),
    (100, 0, 4, 2),
    (102, 0, 0, 2),
    (104, 1, 0, 0),
    (105, 1, 0, 2),
    (106, 2, 0, 0),
    (107, 1, 0, 1),
    (108, 2, 0, 0),
    (109, 2, 0, 1),
]
# (day issued, customer, template, issue key, status at the end)
EXPECTED_COUPONS: list[tuple[int, int, str, str, str]] = [
    (30, 11, "miss-30", "win_back:2026-11-20", "expired"),
    (36, 16, "miss-30", "win_back:2026-11-26", "expired"),
    (37, 16, "bday", "birthday:2026", "expired"),
    (38, 20, "miss-30", "win_back:2026-11-28", "expired"),
    (41, 5, "miss-30", "win_back:2026-12-01", "expired"),
    (41, 28, "miss-30", "win_back:2026-11-30", "expired"),
    (43, 14, "bday", "birthday:2027", "expired"),
    (43, 14, "bday-gold", "birthday:2027", "expired"),
    (46, 29, "miss-30", "win_back:2026-12-05", "expired"),
    (51, 4, "miss-30", "win_back:2026-12-10", "expired"),
    (51, 21, "miss-30", "win_back:2026-12-10", "expired"),
    (52, 23, "miss-30", "win_back:2026-12-12", "expired"),
    (56, 12, "miss-30", "win_back:2026-12-16", "expired"),
    (57, 34, "miss-30", "win_back:2026-12-17", "expired"),
    (58, 12, "bday", "birthday:2027", "expired"),
    (58, 12, "bday-gold", "birthday:2027", "expired"),
    (62, 26, "miss-30", "win_back:2026-12-21", "expired"),
    (65, 14, "miss-30", "win_back:2026-12-25", "expired"),
    (65, 15, "miss-30", "win_back:2026-12-25", "expired"),
    (65, 16, "miss-30", "win_back:2026-12-24", "expired"),
    (65, 30, "miss-30", "win_back:2026-12-24", "expired"),
    (67, 22, "miss-30", "win_back:2026-12-26", "expired"),
    (73, 30, "bday", "birthday:2027", "expired"),
    (74, 13, "miss-30", "win_back:2027-01-02", "expired"),
    (75, 8, "miss-30", "win_back:2027-01-04", "expired"),
    (75, 15, "bday", "birthday:2027", "expired"),
    (76, 20, "bday", "birthday:2027", "expired"),
    (77, 13, "bday", "birthday:2027", "expired"),
    (77, 13, "bday-gold", "birthday:2027", "expired"),
    (78, 6, "miss-30", "win_back:2027-01-07", "expired"),
    (78, 32, "miss-30", "win_back:2027-01-07", "expired"),
    (83, 20, "miss-75", "win_back:2026-11-28", "issued"),
    (84, 1, "miss-30", "win_back:2027-01-12", "issued"),
    (84, 25, "bday", "birthday:2027", "issued"),
    (85, 28, "miss-75", "win_back:2026-11-30", "issued"),
    (88, 35, "bday", "birthday:2027", "issued"),
    (90, 2, "miss-30", "win_back:2027-01-18", "issued"),
    (91, 5, "miss-30", "win_back:2027-01-20", "issued"),
    (91, 18, "miss-30", "win_back:2027-01-20", "issued"),
    (91, 35, "miss-30", "win_back:2027-01-20", "issued"),
    (94, 27, "miss-30", "win_back:2027-01-22", "issued"),
    (96, 33, "miss-30", "win_back:2027-01-24", "issued"),
    (99, 34, "bday", "birthday:2027", "issued"),
    (99, 34, "bday-gold", "birthday:2027", "issued"),
    (100, 0, "bday", "birthday:2027", "issued"),
    (100, 0, "bday-gold", "birthday:2027", "issued"),
    (100, 1, "bday", "birthday:2027", "issued"),
    (100, 2, "bday", "birthday:2027", "issued"),
    (100, 7, "miss-30", "win_back:2027-01-29", "issued"),
    (100, 16, "miss-30", "win_back:2027-01-29", "issued"),
    (102, 22, "miss-30", "win_back:2027-01-30", "issued"),
    (102, 34, "miss-75", "win_back:2026-12-17", "issued"),
    (105, 0, "miss-30", "win_back:2027-02-02", "issued"),
    (105, 19, "miss-30", "win_back:2027-02-02", "issued"),
    (107, 26, "miss-75", "win_back:2026-12-21", "issued"),
    (109, 9, "miss-30", "win_back:2027-02-06", "issued"),
]
