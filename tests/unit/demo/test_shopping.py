"""The demo's shopping plan, without a database: reproducible, exact, and shaped like retail."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from guanxi.demo import shopping
from guanxi.demo.generate import DemoGenerator

END = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


def _shoppers(count: int) -> list[shopping.Shopper]:
    generator = DemoGenerator(5, END)
    people = [generator.customer(i, t) for i, t in enumerate(generator.join_times(count))]
    return [
        shopping.Shopper(id=p.id, joined=p.created_at, city=p.city, source_channel=p.source_channel) for p in people
    ]


def _plan(seed: int = 3, orders: int = 6000, customers: int = 300) -> shopping.Plan:
    return shopping.Planner(seed, END, 730, "Asia/Shanghai").plan(_shoppers(customers), orders)


def _key(plan: shopping.Plan) -> list[tuple[object, ...]]:
    return [(o.external_id, o.at, o.customer_id, o.paid, tuple(o.lines)) for o in plan.orders] + [
        (type(e).__name__, e.at) for e in plan.events()
    ]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert _key(_plan()) == _key(_plan())
    assert _key(_plan(seed=4)) != _key(_plan())


def test_exactly_the_orders_asked_for_inside_two_years_after_each_customer_joined() -> None:
    shoppers = {s.id: s for s in _shoppers(300)}
    plan = _plan()

    assert len(plan.orders) == 6000
    assert len({(o.source, o.external_id) for o in plan.orders}) == 6000
    assert plan.start == datetime(2024, 11, 24, tzinfo=ZONE).astimezone(UTC)
    for order in plan.orders:
        assert shoppers[order.customer_id].joined <= order.at < END
        assert plan.start <= order.at
        total = sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
        assert Decimal(0) < order.paid <= total
        assert 1 <= len(order.lines) <= 5 and len({line.sku for line in order.lines}) == len(order.lines)
        assert order.channel in shopping.CHANNELS
        assert (order.store is not None) == (order.channel == "store")
    assert [o.at for o in plan.orders] == sorted(o.at for o in plan.orders)


def test_the_calendar_and_the_customers_shape_the_orders() -> None:
    plan = _plan()
    per_day = Counter(o.at.astimezone(ZONE).date() for o in plan.orders)
    per_customer = Counter(o.customer_id for o in plan.orders)

    busiest = per_day.most_common(1)[0][0]
    assert (busiest.month, busiest.day) == (11, 11)
    # 春节 2025 began on 29 January: the week after is quiet, the days before it busy.
    assert shopping.day_weight(date(2025, 1, 30)) < 0.5 * shopping.day_weight(date(2025, 1, 16))
    assert shopping.day_weight(date(2025, 1, 24)) > shopping.day_weight(date(2025, 1, 16))
    spring_festival = [date(2025, 1, 29) + timedelta(days=d) for d in range(7)]
    three_weeks_before = [date(2025, 1, 1) + timedelta(days=d) for d in range(18)]
    assert sum(per_day[d] for d in spring_festival) / 7 < 0.6 * sum(per_day[d] for d in three_weeks_before) / 18
    # Some buy often, many rarely: the busiest tenth of buyers place a large share of the orders.
    top = sum(n for _, n in per_customer.most_common(len(per_customer) // 10))
    assert top > 0.3 * len(plan.orders)
    discounted = sum(1 for o in plan.orders if o.paid < sum(x.unit_price * x.quantity for x in o.lines))
    assert 0.2 * len(plan.orders) < discounted < 0.7 * len(plan.orders)
    assert {o.channel for o in plan.orders} == set(shopping.CHANNELS)


def test_refunds_redemptions_and_adjustments_follow_what_they_refer_to() -> None:
    plan = _plan()

    assert 0.015 * len(plan.orders) < len(plan.refunds) < 0.045 * len(plan.orders)
    for refund in plan.refunds:
        assert refund.order.at < refund.at < END
        assert (refund.share is None) != (refund.lines is None)
        for line_no, quantity in refund.lines or ():
            assert 1 <= line_no <= len(refund.order.lines) and quantity == 1
    assert len(plan.redemptions) == len(plan.orders) // 50
    assert all(r.at > r.order.at and r.customer_id == r.order.customer_id for r in plan.redemptions)
    assert plan.checkins and all(c.at < END for c in plan.checkins)
    for approval in plan.approvals:
        assert approval.adjustment in plan.adjustments and approval.adjustment.at < approval.at < END
    keys = [r.key for r in plan.refunds] + [r.key for r in plan.redemptions] + [a.key for a in plan.adjustments]
    assert len(keys) == len(set(keys))


def test_stores_are_named_by_city_with_more_where_more_members_live() -> None:
    stores = shopping.city_stores()

    assert stores["上海市"] == ["SH-01", "SH-02", "SH-03", "SH-04", "SH-05"]
    assert stores["深圳市"][0] == "SZ-01" and stores["苏州市"][0] == "SU-01"
    codes = [s for city in stores.values() for s in city]
    assert len(codes) == len(set(codes))
