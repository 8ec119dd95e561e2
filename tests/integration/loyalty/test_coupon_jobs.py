"""Coupons that issue themselves (birthday, tier upgrade, win-back) exactly once per occasion, and
coupons that expire, with their history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import coupon_jobs
from guanxi.loyalty.catalog import till as coupon_till
from guanxi.loyalty.catalog.errors import CouponExpired
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.catalog.schemas import CouponRedeemIn
from tests.factories import post_order
from tests.integration.loyalty.coupon_helpers import NOW, coupon_row, customer, history, issue, template


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _member(db: Database, name: str, amount: str = "100.00", **fields: object) -> str:
    customer_id = customer(db, name, **fields)
    with db.unit_of_work() as session:
        post_order(session, customer_id=customer_id, amount=amount, external_id=f"o-{customer_id}-{clock.now()}")
    return customer_id


def _coupons(db: Database) -> list[tuple[str, str, str | None]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(select(Coupon.customer_id, Coupon.issued_via, Coupon.issue_key).order_by(Coupon.id))
        return [(r.customer_id, r.issued_via, r.issue_key) for r in rows]


def test_birthday_coupons_once_a_year_for_members(db: Database, frozen: clock.FrozenClock) -> None:
    template(db, code="bday", trigger="birthday")
    template(db, code="gold-bday", trigger="birthday", trigger_params={"tiers": ["gold", "diamond"]})
    today = _member(db, "张伟", birthday=date(1990, 11, 20))
    _member(db, "李娜", birthday=date(1990, 11, 21))
    customer(db, "王芳", birthday=date(1991, 11, 20))  # not a member
    assert coupon_jobs.issue_birthday(db) == 1
    assert _coupons(db) == [(today, "birthday", "birthday:2026")]
    assert coupon_jobs.issue_birthday(db) == 0
    assert len(_coupons(db)) == 1


def test_a_leap_day_birthday_is_celebrated_on_28_february(db: Database, frozen: clock.FrozenClock) -> None:
    template(db, code="bday", trigger="birthday")
    leap = _member(db, "张伟", birthday=date(1992, 2, 29))
    assert coupon_jobs.issue_birthday(db, on=date(2027, 2, 28)) == 1
    assert coupon_jobs.issue_birthday(db, on=date(2028, 2, 28)) == 0  # 2028 has its own 29 February
    assert coupon_jobs.issue_birthday(db, on=date(2028, 2, 29)) == 1
    assert [key for _, _, key in _coupons(db)] == ["birthday:2027", "birthday:2028"]
    assert {c for c, _, _ in _coupons(db)} == {leap}


def test_win_back_once_per_inactive_spell(db: Database, frozen: clock.FrozenClock) -> None:
    template(db, code="miss-you", trigger="win_back", trigger_params={"inactive_days": 90}, per_customer_limit=None)
    quiet = _member(db, "张伟")
    frozen.advance(timedelta(days=60))
    _member(db, "李娜")
    frozen.advance(timedelta(days=40))
    assert coupon_jobs.issue_win_back(db) == 1
    assert coupon_jobs.issue_win_back(db) == 0
    assert _coupons(db) == [(quiet, "win_back", "win_back:2026-11-20")]
    with db.unit_of_work() as session:  # they come back, then go quiet again
        post_order(session, customer_id=quiet, amount="50.00", external_id="back")
    assert coupon_jobs.issue_win_back(db) == 0
    frozen.advance(timedelta(days=91))
    assert coupon_jobs.issue_win_back(db) == 2
    assert [key for c, _, key in _coupons(db) if c == quiet] == ["win_back:2026-11-20", "win_back:2027-02-28"]


def test_a_tier_upgrade_issues_its_coupon_once(db: Database, frozen: clock.FrozenClock) -> None:
    template(db, code="silver-welcome", trigger="tier_upgrade", trigger_params={"to_tier": "silver"})
    template(db, code="any-upgrade", trigger="tier_upgrade")
    template(db, code="gold-welcome", trigger="tier_upgrade", trigger_params={"to_tier": "gold"})
    member = _member(db, "张伟", amount="2500.00")
    outbox.dispatch_pending(db)
    assert sorted(_coupons(db)) == [(member, "tier_upgrade", "tier_upgrade:silver")] * 2
    with db.unit_of_work() as session:  # the same event delivered again issues nothing more
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "loyalty.tier_changed")).one()
        coupon_jobs.issue_on_tier_upgrade(session, event)
    assert len(_coupons(db)) == 2


def test_expiry_ends_issued_coupons_only(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [stale] = issue(db, template(db, code="week", valid_days=7), customer_id)
    [used] = issue(db, template(db, code="week2", valid_days=7), customer_id)
    [fresh] = issue(db, template(db, code="month", valid_days=30), customer_id)
    with db.unit_of_work() as session:
        body = CouponRedeemIn.model_validate({"customer_id": customer_id, "order_amount": "50", "order_reference": "A"})
        coupon_till.redeem(session, SYSTEM, used.code, body, "k")
    frozen.advance(timedelta(days=8))
    assert coupon_jobs.expire_coupons(db) == 1
    assert coupon_jobs.expire_coupons(db) == 0
    assert [coupon_row(db, c.id).status for c in (stale, used, fresh)] == ["expired", "redeemed", "issued"]
    assert history(db, stale.id) == [(None, "issued"), ("issued", "expired")]
    with db.unit_of_work() as session, pytest.raises(CouponExpired):
        body = CouponRedeemIn.model_validate({"customer_id": customer_id, "order_amount": "50", "order_reference": "B"})
        coupon_till.redeem(session, SYSTEM, stale.code, body, "k2")
