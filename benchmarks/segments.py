"""Segment count and sample on 1,000,000 customers and 10,000,000 events.

A fresh database (SQLite, or a new PostgreSQL database on the --database-url server) is filled
with Core multi-row inserts: customers with profiles (city, gender, birthday, channel), tags,
loyalty accounts with balances, orders with lines in categories over the last year, and behaviour
events of ten types over the last year (5% anonymous). The events' secondary indexes are built
after the load, as a bulk import would, and the planner's statistics are gathered.

Then, for a few realistic segments, the real code path is timed (`marketing.segments.preview`'s
parts: the compiled count, and a 20-row sample presented with masking), as a marketer with scope
"all" reads them. Next to them in the same run, two baselines: a bare COUNT(*) of the live
customers, and a COUNT(DISTINCT customer_id) over the events index range of one type in 30 days.
Also timed: one customer's memberships of the saved segments (customer 360) and the incremental
tag refresh the event handler runs for a batch of 1,000 customers (rolled back).
Aim: every segment count under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks import api
from benchmarks.expiry import scratch_database

CUSTOMERS = 1_000_000
EVENTS = 10_000_000
ORDERS = 1_000_000
BATCH = 20_000
AIM_SECONDS = 1.0
NOW = datetime.now(UTC).replace(microsecond=0)

CITIES = [
    ("上海", "上海", "华东", 15),
    ("北京", "北京", "华北", 12),
    ("广州", "广东", "华南", 8),
    ("深圳", "广东", "华南", 8),
    ("杭州", "浙江", "华东", 7),
    ("成都", "四川", "西南", 7),
    ("南京", "江苏", "华东", 6),
    ("武汉", "湖北", "华中", 6),
    ("西安", "陕西", "西北", 5),
    ("苏州", "江苏", "华东", 5),
    ("重庆", "重庆", "西南", 5),
    ("天津", "天津", "华北", 4),
    ("长沙", "湖南", "华中", 4),
    ("青岛", "山东", "华北", 4),
    (None, None, None, 4),
]
CHANNELS = [("wechat", 30), ("mini_program", 25), ("app", 15), ("store", 15), ("web", 8), ("tmall", 7)]
TAGS = [("VIP", 0.10), ("新客", 0.08), ("宝妈", 0.05), ("高价值", 0.03), ("沉睡", 0.06)]
CATEGORIES = [("服饰", 25), ("美妆", 20), ("食品", 20), ("家居", 13), ("母婴", 12), ("数码", 10)]
EVENT_TYPES = [
    ("page_view", 35),
    ("product_view", 20),
    ("login", 12),
    ("app_open", 10),
    ("add_to_cart", 8),
    ("search", 6),
    ("share", 3),
    ("check_in", 3),
    ("campaign_click", 2),
    ("store_visit", 1),
]
EVENT_INDEXES = (
    "ix_customer_events_customer_occurred",
    "ix_customer_events_type_occurred_customer",
    "ix_customer_events_anonymous",
)

SEGMENTS: dict[str, dict[str, Any]] = {
    "profile + tag": {
        "rules": [
            {"field": "city", "op": "eq", "value": "上海"},
            {"field": "gender", "op": "eq", "value": "female"},
            {"field": "tag", "op": "has", "value": "VIP"},
        ]
    },
    "login in 30 days": {"rules": [{"field": "event", "op": "did", "value": "login", "window": {"last_days": 30}}]},
    "母婴 >= 2 orders in 90 days": {
        "rules": [
            {
                "field": "orders.count",
                "op": "gte",
                "value": 2,
                "window": {"last_days": 90},
                "where": {"category": "母婴"},
            }
        ]
    },
    "AND/OR mix": {
        "match": "all",
        "rules": [
            {"field": "age", "op": "between", "value": [25, 40]},
            {"field": "source_channel", "op": "in", "value": ["wechat", "mini_program"]},
        ],
        "groups": [
            {
                "match": "any",
                "rules": [
                    {
                        "field": "event",
                        "op": "did",
                        "value": "add_to_cart",
                        "min_count": 2,
                        "window": {"last_days": 30},
                    },
                    {"field": "loyalty.points_balance", "op": "gte", "value": 2000},
                ],
            }
        ],
    },
    "no app_open in 90 days, member": {
        "rules": [
            {"field": "loyalty.tier", "op": "is_set"},
            {"field": "event", "op": "did_not", "value": "app_open", "window": {"last_days": 90}},
        ]
    },
}


def _weighted(rng: random.Random, items: list[tuple[Any, int]]) -> Callable[[], Any]:
    values = [v for v, _ in items]
    weights = [w for _, w in items]
    pool = rng.choices(values, weights, k=100_000)
    pos = [0]

    def pick() -> Any:
        pos[0] = (pos[0] + 1) % len(pool)
        return pool[pos[0]]

    return pick


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, BATCH):
        yield first, min(first + BATCH, total)


def load(database: Any, customers: int, events: int, orders: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Fill the scratch database; returns counts and load times."""
    from sqlalchemy import Index, insert, text

    from guanxi.customers import places
    from guanxi.customers.event_models import CustomerEvent
    from guanxi.customers.models import Customer, CustomerTag
    from guanxi.kit.ids import new_id
    from guanxi.kit.models import table_of
    from guanxi.loyalty.orders.models import Order, OrderLine
    from guanxi.loyalty.program import config as program
    from guanxi.loyalty.program.models import LoyaltyAccount

    rng = random.Random(7)
    with database.unit_of_work() as session:
        config = program.ensure(session)
        assert config.id is not None
        program_id, tiers = config.id, [t.code for t in config.tiers]
    city = _weighted(rng, [((c, p, r), w) for c, p, r, w in CITIES])
    channel = _weighted(rng, CHANNELS)
    category = _weighted(rng, CATEGORIES)
    event_type = _weighted(rng, EVENT_TYPES)
    tier = _weighted(rng, list(zip(tiers, (70, 20, 8, 2, 1, 1)[: len(tiers)], strict=False)))
    timings: dict[str, float] = {}

    started = time.perf_counter()
    ids: list[str] = []
    members: list[tuple[str, str]] = []
    customer_table = table_of(Customer)
    with database.engine.begin() as conn:
        for first, last in _chunks(customers):
            rows = []
            tag_rows = []
            account_rows = []
            for n in range(first, last):
                cid = new_id()
                ids.append(cid)
                c, p, r = city()
                birthday = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55)) if rng.random() < 0.7 else None
                created = NOW - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
                rows.append(
                    {
                        "id": cid,
                        "member_no": f"GX{10_000_001 + n:010d}",
                        "name": "会员",
                        "name_pinyin": "huiyuan",
                        "name_initials": "hy",
                        "gender": "female" if rng.random() < 0.55 else "male",
                        "birthday": birthday,
                        # as every write path stores a place: official names and division codes
                        **places.normalise(p, c).columns(),
                        "region": r,
                        "source_channel": channel(),
                        "preferred_channel": "wechat",
                        "preferred_language": "zh-CN",
                        "created_at": created,
                        "updated_at": created,
                        "deleted_at": NOW if rng.random() < 0.005 else None,
                    }
                )
                for tag, share in TAGS:
                    if rng.random() < share:
                        tag_rows.append(
                            {
                                "customer_id": cid,
                                "tag": tag,
                                "source": "manual",
                                "created_by": "bench",
                                "created_at": NOW,
                            }
                        )
                if rng.random() < 0.6:
                    aid = new_id()
                    members.append((cid, aid))
                    balance = int(rng.lognormvariate(6, 1.3))
                    account_rows.append(
                        {
                            "id": aid,
                            "program_id": program_id,
                            "customer_id": cid,
                            "tier_code": tier(),
                            "tier_since": created,
                            "points_balance": balance,
                            "pending_points": 0,
                            "lifetime_earned": balance * 2,
                            "lifetime_redeemed": balance,
                            "lifetime_expired": 0,
                            "growth_value": balance,
                            "lifetime_growth": balance * 2,
                            "qualifying_spend": Decimal(balance),
                            "checkin_streak": 0,
                            "enrolled_at": created,
                            "created_at": created,
                            "updated_at": created,
                        }
                    )
            conn.execute(insert(customer_table), rows)
            if tag_rows:
                conn.execute(insert(table_of(CustomerTag)), tag_rows)
            if account_rows:
                conn.execute(insert(table_of(LoyaltyAccount)), account_rows)
    timings["customers_s"] = time.perf_counter() - started
    say(f"  {customers:,} customers, {len(members):,} members, tags: {timings['customers_s']:.0f} s")

    started = time.perf_counter()
    with database.engine.begin() as conn:
        for first, last in _chunks(orders):
            order_rows = []
            line_rows = []
            for n in range(first, last):
                cid, aid = members[rng.randrange(len(members))]
                oid = new_id()
                at = NOW - timedelta(seconds=rng.randrange(0, 365 * 86400))
                lines = 1 if rng.random() < 0.7 else 2
                amount = Decimal(rng.randrange(20, 800))
                order_rows.append(
                    {
                        "id": oid,
                        "source": "bench",
                        "external_id": f"O{n:010d}",
                        "request_hash": "x",
                        "customer_id": cid,
                        "account_id": aid,
                        "paid_amount": amount * lines,
                        "refunded_amount": Decimal(0),
                        "currency": "CNY",
                        "occurred_at": at,
                        "store": f"S{rng.randrange(50):02d}",
                        "channel": "store",
                        "status": "completed",
                        "points_earned": int(amount),
                        "points_reversed": 0,
                        "growth_earned": int(amount),
                        "growth_reversed": 0,
                        "tier_code": "basic",
                        "answer": {},
                        "created_by": "bench",
                        "created_at": at,
                    }
                )
                for line_no in range(1, lines + 1):
                    line_rows.append(
                        {
                            "id": new_id(),
                            "order_id": oid,
                            "line_no": line_no,
                            "sku": None,
                            "category": category(),
                            "quantity": 1,
                            "unit_price": amount,
                            "paid_share": amount,
                            "refunded_quantity": 0,
                            "refunded_amount": Decimal(0),
                        }
                    )
            conn.execute(insert(table_of(Order)), order_rows)
            conn.execute(insert(table_of(OrderLine)), line_rows)
    timings["orders_s"] = time.perf_counter() - started
    say(f"  {orders:,} orders with lines: {timings['orders_s']:.0f} s")

    started = time.perf_counter()
    events_table = table_of(CustomerEvent)
    dropped = [i for i in events_table.indexes if isinstance(i, Index) and i.name in EVENT_INDEXES]
    with database.engine.begin() as conn:
        for index in dropped:
            index.drop(conn)
    # The largest table goes in through the driver's executemany with ready-made values (the ORM
    # types would convert 10M timestamps one by one); SQLite keeps these columns as text.
    sqlite = database.dialect == "sqlite"
    insert_sql = (
        "INSERT INTO customer_events (id, event_id, type, customer_id, anonymous_id, channel, occurred_at, "
        "received_at, properties) VALUES "
        + ("(?, ?, ?, ?, ?, ?, ?, ?, ?)" if sqlite else "(%s, %s, %s, %s, %s, %s, %s, %s, %s)")
    )
    with database.engine.begin() as conn:
        for first, last in _chunks(events):
            event_rows: list[tuple[Any, ...]] = []
            for n in range(first, last):
                anonymous = rng.random() < 0.05
                at = NOW - timedelta(seconds=rng.randrange(0, 365 * 86400))
                stamp: Any = at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at
                event_rows.append(
                    (
                        n + 1,
                        f"b{n:010d}",
                        event_type(),
                        None if anonymous else ids[rng.randrange(customers)],
                        f"a{rng.randrange(10**9)}" if anonymous else None,
                        "app",
                        stamp,
                        stamp,
                        "{}",
                    )
                )
            conn.exec_driver_sql(insert_sql, event_rows)
            if (last // BATCH) % 50 == 0:
                say(f"    {last:,} events")
    timings["events_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with database.engine.begin() as conn:
        for index in dropped:
            index.create(conn)
        if database.dialect == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('customer_events', 'id'), :n)"), {"n": max(events, 1)}
            )
    timings["event_indexes_s"] = time.perf_counter() - started
    say(f"  {events:,} events: {timings['events_s']:.0f} s, indexes {timings['event_indexes_s']:.0f} s")
    started = time.perf_counter()
    settle(database)
    timings["analyze_s"] = time.perf_counter() - started
    return {"customers": customers, "members": len(members), "orders": orders, "events": events, **timings}


def settle(database: Any) -> None:
    """What autovacuum does after a bulk load: planner statistics, and on PostgreSQL the visibility
    map too, without which no index-only scan is possible (every index entry would visit its row)."""
    from sqlalchemy import text

    if database.dialect == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """Median seconds over `rounds` calls (after one unmeasured call), and the last result."""
    result = fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(database: Any, rounds: int, say: Callable[[str], None]) -> dict[str, Any]:
    from sqlalchemy import distinct, func, select

    from guanxi.customers.event_models import CustomerEvent
    from guanxi.customers.models import Customer
    from guanxi.kit import clock
    from guanxi.kit.principal import SYSTEM, Principal
    from guanxi.marketing import compiler, segments, tag_rules
    from guanxi.marketing.conditions import parse
    from guanxi.marketing.models import TagRule
    from guanxi.marketing.schemas import SegmentIn

    marketer = Principal(id="bench", name="bench", role="marketing", scope="all")
    results: dict[str, Any] = {"baselines": {}, "segments": {}}

    def read(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with database.unit_of_work(read_only=True) as session:
                return fn(session)

        return run

    live = select(func.count()).select_from(Customer).where(Customer.deleted_at.is_(None))
    seconds, n = timed(read(lambda s: s.scalar(live)), rounds)
    results["baselines"]["COUNT(*) live customers"] = {"s": seconds, "count": n}
    say(f"  baseline COUNT(*) live customers: {seconds * 1000:8.1f} ms  ({n:,})")
    since = clock.now() - timedelta(days=30)
    logins = select(func.count(distinct(CustomerEvent.customer_id))).where(
        CustomerEvent.type == "login", CustomerEvent.occurred_at >= since
    )
    seconds, n = timed(read(lambda s: s.scalar(logins)), rounds)
    results["baselines"]["COUNT(DISTINCT) login 30 days (index range)"] = {"s": seconds, "count": n}
    say(f"  baseline COUNT(DISTINCT customer) login in 30 days: {seconds * 1000:8.1f} ms  ({n:,})")

    for label, definition in SEGMENTS.items():
        group = parse(definition)

        def count_of(session: Any, group: Any = group) -> int:
            return segments.count_matching(session, compiler.compile_ids(group, marketer))

        def sample_of(session: Any, group: Any = group) -> list[Any]:
            return segments._sample(session, marketer, compiler.compile_ids(group, marketer), 20)

        def preview_of(session: Any, definition: Any = definition) -> Any:
            return segments.preview(session, marketer, definition, sample=20)

        count_s, count = timed(read(count_of), rounds)
        sample_s, sample = timed(read(sample_of), rounds)
        preview_s, _ = timed(read(preview_of), rounds)
        results["segments"][label] = {
            "count": count,
            "count_s": count_s,
            "sample_s": sample_s,
            "sample_rows": len(sample),
            "preview_s": preview_s,
        }
        say(
            f"  {label:32} count {count:>9,}  {count_s * 1000:8.1f} ms   sample 20 {sample_s * 1000:7.1f} ms"
            f"   preview {preview_s * 1000:8.1f} ms"
        )

    with database.unit_of_work() as session:
        for i, (label, definition) in enumerate(SEGMENTS.items()):
            segments.create_segment(session, SYSTEM, SegmentIn(name=label, conditions=definition))
            if i < 3:
                session.add(TagRule(code=f"bench{i}", tag=f"bench{i}", definition=definition, created_by="bench"))
        one = session.scalar(select(Customer.id).where(Customer.deleted_at.is_(None)).limit(1))
        batch = list(session.scalars(select(Customer.id).order_by(Customer.id.desc()).limit(1000)))
    assert one is not None
    seconds, refs = timed(read(lambda s: segments.memberships(s, marketer, one)), rounds)
    results["memberships_s"] = seconds
    say(f"  memberships of one customer in {len(SEGMENTS)} segments: {seconds * 1000:8.1f} ms ({len(refs)} found)")

    def incremental() -> int:
        work = database.unit_of_work()
        session = work.__enter__()
        try:
            return sum(r.added for r in tag_rules.refresh_for_customers(session, batch))
        finally:
            session.rollback()
            work.__exit__(None, None, None)

    seconds, added = timed(incremental, rounds)
    results["incremental_refresh_1000_s"] = seconds
    say(f"  incremental refresh of 3 tag rules for 1,000 customers: {seconds * 1000:8.1f} ms ({added} tags)")
    return results


@contextlib.contextmanager
def _database(database_url: str | None, home: Path | None, reuse_url: str | None) -> Iterator[tuple[Any, bool]]:
    """A scratch database, the one kept in `home` (loaded on first use), or a loaded one to reuse."""
    if reuse_url:
        import tempfile

        url = reuse_url.replace("postgresql://", "postgresql+psycopg://", 1)
        with api.settings_for(Path(tempfile.mkdtemp(prefix="guanxi-bench-segments-")), url):
            from guanxi.kit.db import get_database

            database = get_database()
            settle(database)
            yield database, False
            _forget_saved(database)
            database.dispose()
        return
    if home is None or database_url:
        with scratch_database(database_url, "segments") as (_, database):
            yield database, True
        return
    from sqlalchemy import func, select

    from guanxi.customers.models import Customer
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    home.mkdir(parents=True, exist_ok=True)
    with api.settings_for(home, None):
        database = get_database()
        runner.upgrade(database.engine)
        with database.unit_of_work(read_only=True) as session:
            fresh = not session.scalar(select(func.count()).select_from(Customer))
        yield database, fresh
        _forget_saved(database)
        database.dispose()


def _forget_saved(database: Any) -> None:
    """Delete the segments and rules `measure` saved, so a kept database can be measured again."""
    from sqlalchemy import delete

    from guanxi.marketing.models import Segment, SegmentMember, TagRule

    with database.unit_of_work() as session:
        for model in (SegmentMember, Segment, TagRule):
            session.execute(delete(model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks --suite segments", description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--orders", type=int, default=ORDERS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--reuse-url",
        default=None,
        help="PostgreSQL: measure this already loaded database (a kept scratch database) instead of loading one",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="SQLite only: keep the loaded database in this GUANXI_HOME and reuse it on the next run",
    )
    args = parser.parse_args(argv)
    say = print
    info = api.machine()
    kind = "postgresql" if args.database_url or args.reuse_url else "sqlite"
    say(
        f"guanxi segments benchmark ({kind}): {args.customers:,} customers, {args.events:,} events, "
        f"{args.orders:,} orders on {info['cpu']}"
    )
    with _database(args.database_url, args.home, args.reuse_url) as (database, fresh):
        loaded = load(database, args.customers, args.events, args.orders, say) if fresh else {"reused": True}
        measured = measure(database, args.rounds, say)
    slowest = max(s["count_s"] for s in measured["segments"].values())
    met = slowest < AIM_SECONDS
    say(f"aim: every segment count under {AIM_SECONDS:g} s: slowest {slowest:.3f} s -> {'met' if met else 'MISSED'}")
    report = {
        "benchmark": "segments",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "data": loaded,
        **measured,
        "met": met,
    }
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"segments-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    say(f"results written to {out}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
