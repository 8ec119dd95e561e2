"""The analytics benchmark's data: customers, members, two years of orders with lines, refunds and
coupons, written straight through the driver in multi-row batches.

The ORM and Core types would convert tens of millions of values one by one; here the values are
made as each database stores them (SQLite: UTC text timestamps and REAL money, as SQLAlchemy writes
them; PostgreSQL: aware datetimes and Decimals) and handed to the driver's executemany, as the
segments benchmark does for its events. The orders' and lines' secondary indexes are built after
the load, as a bulk import would.

The shape, drawn with numpy from a fixed seed:
- 75% of the customers are members (an order needs an account), joined over 900 days;
- each member buys between joining (or the window's start) and either the end or, for 45%, a
  churn date (an exponential lifetime of 120 days); how often is lognormal, and 2% are frequent
  buyers at eight times the rate (the heavy tail);
- 1-3 lines (sku from a Zipf-like pool, category, 1 or 2 units); prices are multiples of 0.5 yuan,
  so every sum is exact in float64 and the three RFM implementations can be compared exactly;
- 8% of orders use a coupon (its redeemed coupon is stored, and as many coupons stay unused),
  1% are cancelled, 1.5% refunded in full, 1.5% partly (their last line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from benchmarks.segments import CATEGORIES, CHANNELS, CITIES

BATCH = 20_000
DAY = 86_400.0
WINDOW_DAYS = 730
ORDER_INDEXES = (
    "ix_loyalty_orders_account_id",
    "ix_loyalty_orders_customer_occurred",
    "ix_loyalty_orders_occurred",
    "ix_loyalty_orders_customer_occurred_amounts",
    "ix_loyalty_order_lines_order_id",
    "ix_loyalty_order_lines_category_order",
    "ix_loyalty_orders_updated",
    "ix_loyalty_coupons_customer_status",
    "ix_loyalty_coupons_template_customer",
)
SKUS_PER_CATEGORY = 400


class Values:
    """Values as the database stores them (see the module's docstring)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def at(self, epoch: float) -> Any:
        moment = datetime.fromtimestamp(epoch, UTC)
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else moment

    def money(self, amount: float) -> Any:
        return float(amount) if self.sqlite else Decimal(str(amount)).quantize(Decimal("0.01"))

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    def insert(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join([self.mark] * len(columns))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


@dataclass
class Members:
    customer_ids: list[str]
    account_ids: list[str]
    tiers: list[str]
    active_from: np.ndarray  # epoch seconds
    active_until: np.ndarray
    rate: np.ndarray  # relative purchase rate
    price_level: np.ndarray  # yuan
    template_id: str = ""
    coupons: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def _pick(rng: np.random.Generator, items: Sequence[tuple[Any, int]], size: int) -> list[Any]:
    weights = np.array([w for _, w in items], dtype=float)
    chosen = rng.choice(len(items), size=size, p=weights / weights.sum())
    return [items[i][0] for i in chosen]


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, BATCH):
        yield first, min(first + BATCH, total)


def fill_customers(database: Any, customers: int, start: datetime, rng: np.random.Generator) -> Members:
    """Customers (0.5% deleted, 0.5% refusing profiling), 75% of them members with accounts."""
    from guanxi.customers import places
    from guanxi.kit.ids import new_id
    from guanxi.loyalty.program import config as program

    values = Values(database.dialect)
    with database.unit_of_work() as session:
        config = program.ensure(session)
        assert config.id is not None
        program_id, tier_codes = config.id, [t.code for t in config.tiers]
    origin = start.timestamp()
    joined = origin + rng.uniform(-170, WINDOW_DAYS - 30, size=customers) * DAY
    member = rng.random(customers) < 0.75
    deleted = rng.random(customers) < 0.005
    opted_out = rng.random(customers) < 0.005
    cities = _pick(rng, [((c, p, r), w) for c, p, r, w in CITIES], customers)
    channels = _pick(rng, CHANNELS, customers)
    tiers = _pick(rng, list(zip(tier_codes, (70, 20, 8, 2, 1, 1)[: len(tier_codes)], strict=False)), customers)
    place_columns = {(c, p, r): places.normalise(p, c).columns() for c, p, r in set(cities)}
    place_names = list(next(iter(place_columns.values())).keys())
    customer_columns = [
        "id", "member_no", "name", "name_pinyin", "name_initials", "gender", "birthday", *place_names, "region",
        "source_channel", "preferred_channel", "preferred_language", "profiling_opt_out", "created_at",
        "updated_at", "deleted_at",
    ]  # fmt: skip
    account_columns = [
        "id", "program_id", "customer_id", "tier_code", "tier_since", "points_balance", "pending_points",
        "lifetime_earned", "lifetime_redeemed", "lifetime_expired", "growth_value", "lifetime_growth",
        "qualifying_spend", "checkin_streak", "enrolled_at", "created_at", "updated_at",
    ]  # fmt: skip
    customer_sql = values.insert("customers", customer_columns)
    account_sql = values.insert("loyalty_accounts", account_columns)
    members = Members([], [], [], np.empty(0), np.empty(0), np.empty(0), np.empty(0))
    member_rows: list[int] = []
    birthdays = rng.integers(0, 365 * 55, size=customers)
    balances = rng.lognormal(6, 1.3, size=customers).astype(int)
    with database.engine.begin() as conn:
        for first, last in _chunks(customers):
            rows: list[tuple[Any, ...]] = []
            accounts: list[tuple[Any, ...]] = []
            for n in range(first, last):
                cid = new_id()
                created = values.at(joined[n])
                gone = values.at(joined[n] + DAY * 30) if deleted[n] else None
                c, p, r = cities[n]
                birthday = values.day(date(1950, 1, 1) + timedelta(days=int(birthdays[n]))) if n % 10 < 7 else None
                rows.append(
                    (
                        cid, f"GX{10_000_001 + n:010d}", "会员", "huiyuan", "hy", "female" if n % 20 < 11 else "male",
                        birthday, *place_columns[(c, p, r)].values(), r, channels[n], "wechat", "zh-CN",
                        values.flag(bool(opted_out[n])), created, created, gone,
                    )
                )  # fmt: skip
                if member[n]:
                    aid = new_id()
                    balance = int(balances[n])
                    accounts.append(
                        (
                            aid, program_id, cid, tiers[n], created, balance, 0, balance * 2, balance, 0, balance,
                            balance * 2, values.money(float(balance)), 0, created, created, created,
                        )
                    )  # fmt: skip
                    members.customer_ids.append(cid)
                    members.account_ids.append(aid)
                    members.tiers.append(tiers[n])
                    member_rows.append(n)
            conn.exec_driver_sql(customer_sql, rows)
            conn.exec_driver_sql(account_sql, accounts)
    chosen = np.array(member_rows, dtype=np.int64)
    count = len(chosen)
    active_from = np.maximum(joined[chosen], origin)
    end = origin + WINDOW_DAYS * DAY
    churns = rng.random(count) < 0.45
    lifetime = rng.exponential(120 * DAY, size=count)
    members.active_from = active_from
    members.active_until = np.where(churns, np.minimum(active_from + lifetime, end), end)
    rate = rng.lognormal(0.0, 1.0, size=count) * np.where(rng.random(count) < 0.02, 8.0, 1.0)
    members.rate = rate
    members.price_level = rng.lognormal(np.log(120), 0.5, size=count)
    members.counts = {"customers": customers, "members": count, "deleted": int(deleted.sum())}
    members.counts["profiling_opt_out"] = int(opted_out.sum())
    members.template_id = _coupon_template(database, program_id)
    return members


def _coupon_template(database: Any, program_id: str) -> str:
    from sqlalchemy import insert

    from guanxi.kit.ids import new_id
    from guanxi.kit.models import table_of
    from guanxi.loyalty.catalog.models import CouponTemplate

    template_id = new_id()
    with database.engine.begin() as conn:
        conn.execute(
            insert(table_of(CouponTemplate)),
            [
                {
                    "id": template_id,
                    "program_id": program_id,
                    "code": "BENCH",
                    "name": "满减券",
                    "kind": "amount",
                    "value": Decimal(10),
                    "trigger": "manual",
                }
            ],
        )
    return template_id


def allot_orders(members: Members, orders: int, rng: np.random.Generator) -> np.ndarray:
    """Which member places each of `orders` orders: a multinomial over rate x active time."""
    weight = members.rate * np.maximum(members.active_until - members.active_from, DAY)
    counts = rng.multinomial(orders, weight / weight.sum())
    return np.repeat(np.arange(len(weight)), counts)


@dataclass
class OrderWriter:
    """Writes orders, their lines and their coupons in batches; `n` numbers the external ids."""

    database: Any
    members: Members
    rng: np.random.Generator
    n: int = 0
    lines: int = 0
    coupons: int = 0
    refunded: int = 0
    cancelled: int = 0
    order_sql: str = ""
    line_sql: str = ""
    coupon_sql: str = ""

    ORDER_COLUMNS = (
        "id", "source", "external_id", "request_hash", "customer_id", "account_id", "paid_amount",
        "refunded_amount", "currency", "occurred_at", "store", "channel", "status", "cancelled_at", "points_earned",
        "points_reversed", "growth_earned", "growth_reversed", "tier_code", "answer", "created_by", "created_at",
        "updated_at",
    )  # fmt: skip
    LINE_COLUMNS = (
        "id", "order_id", "line_no", "sku", "category", "quantity", "unit_price", "paid_share", "refunded_quantity",
        "refunded_amount",
    )  # fmt: skip
    COUPON_COLUMNS = (
        "id", "template_id", "customer_id", "code", "status", "valid_from", "valid_to", "issued_via", "redeemed_at",
        "order_reference", "discount_amount", "created_at",
    )  # fmt: skip

    def __post_init__(self) -> None:
        values = Values(self.database.dialect)
        self.values = values
        self.order_sql = values.insert("loyalty_orders", self.ORDER_COLUMNS)
        self.line_sql = values.insert("loyalty_order_lines", self.LINE_COLUMNS)
        self.coupon_sql = values.insert("loyalty_coupons", self.COUPON_COLUMNS)
        self.categories = [c for c, _ in CATEGORIES]
        weights = np.array([w for _, w in CATEGORIES], dtype=float)
        self.category_p = weights / weights.sum()
        self.channels = [c for c, _ in CHANNELS]

    def write(self, who: np.ndarray, when: np.ndarray, *, refunds_before: float, say: Callable[[str], None]) -> None:
        """Orders of members `who` at epoch seconds `when` (sorted by time); refunds and
        cancellations are stamped (updated_at) no later than `refunds_before`."""
        for first, last in _chunks(len(who)):
            with self.database.engine.begin() as conn:
                self._batch(conn, who[first:last], when[first:last], refunds_before)
            if (last // BATCH) % 50 == 0:
                say(f"    {last:,} orders")

    def _batch(self, conn: Any, who: np.ndarray, when: np.ndarray, refunds_before: float) -> None:
        from guanxi.kit.ids import new_id

        v, m, rng = self.values, self.members, self.rng
        size = len(who)
        line_counts = rng.choice([1, 2, 3], size=size, p=[0.62, 0.27, 0.11])
        total_lines = int(line_counts.sum())
        # prices in halves of a yuan, around each member's level
        halves = np.maximum(
            2, np.rint(np.repeat(m.price_level[who], line_counts) * rng.lognormal(0, 0.4, total_lines) * 2)
        )
        units = halves / 2
        quantity = np.where(rng.random(total_lines) < 0.15, 2, 1)
        category = rng.choice(len(self.categories), size=total_lines, p=self.category_p)
        sku = np.minimum(rng.zipf(1.4, size=total_lines), SKUS_PER_CATEGORY) - 1
        fate = rng.random(size)  # < 0.01 cancelled, < 0.025 refunded, < 0.04 partly refunded
        coupon = rng.random(size) < 0.08
        later = when + rng.uniform(1, 14, size) * DAY
        changed = np.where(fate < 0.04, np.maximum(when + 60, np.minimum(later, refunds_before)), when + 60)
        stores = rng.integers(0, 50, size)
        channel = rng.choice(len(self.channels), size=size)
        orders: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        coupons: list[tuple[Any, ...]] = []
        at = 0
        for i in range(size):
            member = int(who[i])
            oid = new_id()
            count = int(line_counts[i])
            listed = [float(units[at + k] * quantity[at + k]) for k in range(count)]
            discount = float(min(30, max(1, int(listed[0] * 0.2)))) if coupon[i] and listed[0] > 2 else 0.0
            shares = [listed[0] - discount, *listed[1:]]
            paid = sum(shares)
            status, refunded = "completed", 0.0
            refunded_line = -1
            if fate[i] < 0.01:
                status = "cancelled"
            elif fate[i] < 0.025 or (fate[i] < 0.04 and count == 1):
                status, refunded, refunded_line = "refunded", paid, 0
            elif fate[i] < 0.04:
                status, refunded, refunded_line = "partially_refunded", shares[-1], count - 1
            occurred = v.at(when[i])
            updated = v.at(changed[i])
            self.n += 1
            orders.append(
                (
                    oid, "bench", f"A{self.n:011d}", "x", m.customer_ids[member], m.account_ids[member], v.money(paid),
                    v.money(refunded), "CNY", occurred, f"S{stores[i]:02d}", self.channels[channel[i]], status,
                    updated if status == "cancelled" else None, int(paid), 0, int(paid), 0, m.tiers[member], "{}",
                    "bench", occurred, updated,
                )
            )  # fmt: skip
            for k in range(count):
                whole = status == "refunded" or (k == refunded_line and refunded_line >= 0)
                cat = int(category[at + k])
                lines.append(
                    (
                        new_id(), oid, k + 1, f"{cat}-{int(sku[at + k]):03d}", self.categories[cat],
                        int(quantity[at + k]), v.money(float(units[at + k])), v.money(shares[k]),
                        int(quantity[at + k]) if whole else 0, v.money(shares[k] if whole else 0.0),
                    )
                )  # fmt: skip
            at += count
            if discount:
                issued = when[i] - rng.uniform(1, 30) * DAY
                self.coupons += 1
                coupons.append(
                    (
                        new_id(), m.template_id, m.customer_ids[member], f"BC{self.coupons:012d}", "redeemed",
                        v.at(issued), v.at(issued + 30 * DAY), "bulk", occurred, oid, v.money(discount), v.at(issued),
                    )
                )  # fmt: skip
                # and one the member never used
                unused = when[i] - rng.uniform(1, 60) * DAY
                self.coupons += 1
                coupons.append(
                    (
                        new_id(), m.template_id, m.customer_ids[member], f"BC{self.coupons:012d}",
                        "issued" if unused + 30 * DAY > refunds_before else "expired", v.at(unused),
                        v.at(unused + 30 * DAY), "bulk", None, None, None, v.at(unused),
                    )
                )  # fmt: skip
            self.refunded += status in ("refunded", "partially_refunded")
            self.cancelled += status == "cancelled"
        conn.exec_driver_sql(self.order_sql, orders)
        conn.exec_driver_sql(self.line_sql, lines)
        if coupons:
            conn.exec_driver_sql(self.coupon_sql, coupons)
        self.lines += len(lines)


def drop_indexes(database: Any) -> list[Any]:
    from sqlalchemy import Index

    from guanxi.kit.models import table_of
    from guanxi.loyalty.catalog.models import Coupon
    from guanxi.loyalty.orders.models import Order, OrderLine

    dropped = [
        index
        for model in (Order, OrderLine, Coupon)
        for index in table_of(model).indexes
        if isinstance(index, Index) and index.name in ORDER_INDEXES
    ]
    with database.engine.begin() as conn:
        for index in dropped:
            index.drop(conn)
    return dropped


def create_indexes(database: Any, dropped: list[Any]) -> None:
    with database.engine.begin() as conn:
        for index in dropped:
            index.create(conn)


def fill_orders(
    database: Any, members: Members, orders: int, start: datetime, rng: np.random.Generator, say: Callable[[str], None]
) -> OrderWriter:
    """`orders` orders over the two years from `start`, in time order."""
    who = allot_orders(members, orders, rng)
    when = members.active_from[who] + rng.random(len(who)) * (members.active_until[who] - members.active_from[who])
    order = np.argsort(when, kind="stable")
    writer = OrderWriter(database, members, rng)
    end = start.timestamp() + WINDOW_DAYS * DAY
    writer.write(who[order], when[order], refunds_before=end - 60, say=say)
    return writer


def a_days_changes(
    database: Any, writer: OrderWriter, day_start: float, orders: int, refunds: int, rng: np.random.Generator
) -> dict[str, int]:
    """One day's new orders from the members still buying, and `refunds` refunds of earlier
    orders (of the last 30 days), all stamped within the day."""
    from sqlalchemy import text

    members = writer.members
    buying = np.flatnonzero(members.active_until >= day_start - DAY)
    weight = members.rate[buying]
    who = buying[rng.choice(len(buying), size=orders, p=weight / weight.sum())]
    when = np.sort(day_start + rng.random(orders) * (DAY - 120))
    before = writer.n
    writer.write(who, when, refunds_before=day_start + DAY - 60, say=lambda _: None)
    values = writer.values
    stamp = values.at(day_start + DAY - 90)
    with database.engine.begin() as conn:
        chosen = conn.execute(
            text(
                "SELECT id FROM loyalty_orders WHERE status = 'completed' AND occurred_at >= :since"
                " AND occurred_at < :until ORDER BY external_id LIMIT :n"
            ),
            {"since": values.at(day_start - 30 * DAY), "until": values.at(day_start), "n": refunds},
        ).scalars()
        ids = [(stamp, oid) for oid in chosen]
        m = values.mark
        conn.exec_driver_sql(
            f"UPDATE loyalty_orders SET status = 'refunded', refunded_amount = paid_amount, updated_at = {m}"
            f" WHERE id = {m}",
            ids,
        )
        conn.exec_driver_sql(
            f"UPDATE loyalty_order_lines SET refunded_quantity = quantity, refunded_amount = paid_share"
            f" WHERE order_id = {m}",
            [(oid,) for _, oid in ids],
        )
    return {"new_orders": writer.n - before, "refunded_orders": len(ids)}
