"""What the loyalty domain hands the analytics warehouse: orders and their lines, members'
accounts (tier, balance) and the points ledger's entries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func

from guanxi.kit.feeds import Feed, FeedColumn
from guanxi.kit.models import table_of
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.orders.models import Order, OrderLine
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry

_orders = table_of(Order)
_lines = table_of(OrderLine)
_accounts = table_of(LoyaltyAccount)
_entries = table_of(PointEntry)
_coupons = table_of(Coupon)
_LATE_COMMITS = timedelta(minutes=10)

ORDERS = Feed(
    name="orders",
    source=_orders,
    key=FeedColumn("id", "string", _orders.c.id),
    watermark=FeedColumn("updated_at", "timestamp", _orders.c.updated_at),
    columns=(
        FeedColumn("customer_id", "string", _orders.c.customer_id),
        FeedColumn("occurred_at", "timestamp", _orders.c.occurred_at),
        FeedColumn("paid_amount", "money", _orders.c.paid_amount),
        FeedColumn("refunded_amount", "money", _orders.c.refunded_amount),
        FeedColumn("currency", "string", _orders.c.currency),
        FeedColumn("store", "string", _orders.c.store),
        FeedColumn("channel", "string", _orders.c.channel),
        FeedColumn("status", "string", _orders.c.status),
        FeedColumn("tier_code", "string", _orders.c.tier_code),
        FeedColumn("points_earned", "int", _orders.c.points_earned),
    ),
    overlap=_LATE_COMMITS,
)

# A line changes only with its order (a refund of some of it), so lines follow the order's mark.
ORDER_LINES = Feed(
    name="order_lines",
    source=_lines.join(_orders, _lines.c.order_id == _orders.c.id),
    key=FeedColumn("id", "string", _lines.c.id),
    watermark=FeedColumn("order_updated_at", "timestamp", _orders.c.updated_at),
    columns=(
        FeedColumn("order_id", "string", _lines.c.order_id),
        FeedColumn("sku", "string", _lines.c.sku),
        FeedColumn("category", "string", _lines.c.category),
        FeedColumn("quantity", "int", _lines.c.quantity),
        FeedColumn("unit_price", "money", _lines.c.unit_price),
        FeedColumn("paid_share", "money", _lines.c.paid_share),
        FeedColumn("refunded_quantity", "int", _lines.c.refunded_quantity),
    ),
    overlap=_LATE_COMMITS,
)

ACCOUNTS = Feed(
    name="accounts",
    source=_accounts,
    key=FeedColumn("id", "string", _accounts.c.id),
    watermark=FeedColumn("updated_at", "timestamp", _accounts.c.updated_at),
    columns=(
        FeedColumn("customer_id", "string", _accounts.c.customer_id),
        FeedColumn("tier_code", "string", _accounts.c.tier_code),
        FeedColumn("points_balance", "int", _accounts.c.points_balance),
        FeedColumn("enrolled_at", "timestamp", _accounts.c.enrolled_at),
    ),
    overlap=_LATE_COMMITS,
)

# The ledger is append-only: its integer ids only grow.
POINT_ENTRIES = Feed(
    name="point_entries",
    source=_entries,
    key=FeedColumn("id", "int", _entries.c.id),
    watermark=FeedColumn("id", "int", _entries.c.id),
    columns=(
        FeedColumn("account_id", "string", _entries.c.account_id),
        FeedColumn("kind", "string", _entries.c.kind),
        FeedColumn("points", "int", _entries.c.points),
        FeedColumn("occurred_at", "timestamp", _entries.c.occurred_at),
    ),
    overlap=5_000,
)

# A coupon changes when it is used; its expiry is read from valid_to, so no mark is needed for it.
COUPONS = Feed(
    name="coupons",
    source=_coupons,
    key=FeedColumn("id", "string", _coupons.c.id),
    watermark=FeedColumn("changed_at", "timestamp", func.coalesce(_coupons.c.redeemed_at, _coupons.c.created_at)),
    columns=(
        FeedColumn("customer_id", "string", _coupons.c.customer_id),
        FeedColumn("template_id", "string", _coupons.c.template_id),
        FeedColumn("status", "string", _coupons.c.status),
        FeedColumn("valid_to", "timestamp", _coupons.c.valid_to),
        FeedColumn("redeemed_at", "timestamp", _coupons.c.redeemed_at),
        FeedColumn("discount_amount", "money", _coupons.c.discount_amount),
        FeedColumn("created_at", "timestamp", _coupons.c.created_at),
    ),
    overlap=_LATE_COMMITS,
)

FEEDS = (ORDERS, ORDER_LINES, ACCOUNTS, POINT_ENTRIES, COUPONS)
