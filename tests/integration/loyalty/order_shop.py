"""A small shop's orders for the order-list tests (service and console): two customers, five
orders over four local days, one cancelled later and one partly returned."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.orders import status_changes
from tests.factories import create_customer, post_order

# "Now" for these tests: after the last order, on 2026-11-20 in Shanghai.
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
PARTLY_RETURNED = {"status": "partially_returned", "refunded_amount": "100.00"}


def record_shop(session: Session) -> dict[str, str]:
    """Customers 张伟 and 李娜 and orders A–E; returns their ids by name and external id (and
    张伟's member number as "zhang_no")."""
    zhang = create_customer(session, name="张伟", phone="13800138000")
    li = create_customer(session, name="李娜")
    # 2026-11-19 16:30 UTC is 2026-11-20 00:30 in Shanghai: a day of its own in the zone.
    orders = (
        (zhang.id, "100.00", "A", "SH-01", "store", datetime(2026, 11, 19, 16, 30, tzinfo=UTC), {}),
        (zhang.id, "250.00", "B", "SH-02", "mini_program", datetime(2026, 11, 19, 15, 30, tzinfo=UTC), {}),
        (li.id, "80.00", "C", "SH-01", "store", datetime(2026, 11, 18, 4, 0, tzinfo=UTC), {}),
        (li.id, "60.00", "D", "BJ-01", "tmall", datetime(2026, 11, 17, 4, 0, tzinfo=UTC), {}),
        (li.id, "3000.00", "E", "SH-01", "jd", datetime(2026, 11, 16, 4, 0, tzinfo=UTC), PARTLY_RETURNED),
    )
    ids = {
        external_id: post_order(
            session,
            customer_id=customer_id,
            amount=amount,
            external_id=external_id,
            store=store,
            channel=channel,
            occurred_at=when,
            **extra,
        ).id
        for customer_id, amount, external_id, store, channel, when, extra in orders
    }
    status_changes.cancel_order(session, SYSTEM, ids["D"])
    return {"zhang": zhang.id, "zhang_no": zhang.member_no, "li": li.id, **ids}
