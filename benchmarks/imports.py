"""Import of customers and orders from CSV next to a bare bulk insert of the same rows.

A CSV of N customers (Chinese names, unique mobile numbers, a third with an email, birthdays,
cities, genders) and a CSV of N orders of those customers (by phone, with a store and a category)
are written first. Two fresh databases are then filled in the same run, each step in its own
subprocess so its peak memory (ru_maxrss) is its own:

- import: `dataio` jobs exactly as `guanxi import customers|orders FILE` runs them (encoding scan,
  header recognition, validation with the services' rules, duplicate check, blind indexes and
  encryption, member numbers, outbox events, audit, one transaction per batch);
- bare: the same CSV rows read with the csv module and inserted with Core executemany in batches
  of the same size (customers + identities; orders with the customer and account already known),
  no validation, no encryption: the ceiling.

The ratio (import rate / bare rate) is the aim's measure (>= 30%). Memory is reported for N and for
a run of N/10 rows: flat means about the same peak for both.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import api
from benchmarks.expiry import scratch_database

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欣"
CITIES = ("上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "苏州")
CATEGORIES = ("母婴", "美妆", "服饰", "食品", "家居", "数码")
BATCH = 2000
AIM = 0.30  # the import's rate against the bare insert's, for customers and for orders


def write_files(folder: Path, rows: int, seed: int = 7, lines_per_order: int = 1) -> tuple[Path, Path]:
    """The customers file, and an orders file of `rows` lines: one order per line, or (an order-line
    export) `lines_per_order` lines per order spread over the whole file, rows // K apart, so the
    importer cannot find an order's lines next to each other."""
    rng = random.Random(seed)
    customers = folder / f"customers-{rows}.csv"
    orders = folder / (f"orders-{rows}.csv" if lines_per_order == 1 else f"order-lines-{rows}x{lines_per_order}.csv")
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with customers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机号", "邮箱", "生日", "城市", "性别"])
        for i in range(rows):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
            phone = f"1{rng.choice('3589')}{i:09d}"
            email = f"user{i}@example.com" if i % 3 == 0 else ""
            birthday = f"{rng.randint(1960, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            writer.writerow([name, phone, email, birthday, rng.choice(CITIES), rng.choice("男女")])
    rng = random.Random(seed)  # replay the same draws to list the same phones
    phones = []
    for i in range(rows):
        rng.choice(SURNAMES), rng.choice(GIVEN)
        if rng.random() < 0.6:
            rng.choice(GIVEN)
        phones.append(f"1{rng.choice('3589')}{i:09d}")
        rng.randint(1960, 2005), rng.randint(1, 12), rng.randint(1, 28), rng.choice(CITIES), rng.choice("男女")
    with orders.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["订单号", "手机号", "实付金额", "下单时间", "门店", "品类"])
        order_count = max(rows // lines_per_order, 1)
        for i in range(rows):
            j = i % order_count if lines_per_order > 1 else i
            at = start + timedelta(minutes=j % 500_000, seconds=j % 60)
            phone = phones[(j * 7919) % rows] if lines_per_order > 1 else phones[rng.randrange(rows)]
            store = f"门店{j % 50 + 1}" if lines_per_order > 1 else f"门店{rng.randint(1, 50)}"
            writer.writerow(
                [
                    f"O{j:09d}",
                    phone,
                    f"{rng.randint(1000, 200000) / 100:.2f}",
                    at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "+00:00",
                    store,
                    rng.choice(CATEGORIES),
                ]
            )
    return customers, orders


# Steps, each run in a child process -------------------------------------------------------------


def _peak_mb() -> float:
    """This process's own peak resident memory (VmHWM: ru_maxrss would carry the parent's over
    from before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_import(kind: str, path: Path) -> dict[str, Any]:
    from guanxi.dataio import service
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    database = get_database()
    started = time.perf_counter()
    with database.unit_of_work() as session:
        job_id = service.create_job(session, SYSTEM, kind=kind, file_name=path.name, path=path).id
    job = service.run_job(database, job_id)
    seconds = time.perf_counter() - started
    assert job.status == "done", job.error
    return {
        "seconds": seconds,
        "rows": job.rows_read,
        "created": job.created,
        "rejected": job.rejected,
        "peak_mb": _peak_mb(),
    }


def step_bare_customers(path: Path) -> dict[str, Any]:
    from guanxi.customers.models import Customer, CustomerIdentity
    from guanxi.kit.db import get_database
    from guanxi.kit.ids import new_id
    from guanxi.kit.models import table_of

    database = get_database()
    customers, identities = table_of(Customer), table_of(CustomerIdentity)
    started = time.perf_counter()
    now = datetime.now(UTC)
    count = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows: list[list[str]] = []
        for row in reader:
            rows.append(row)
            if len(rows) == BATCH:
                count += _bare_customer_batch(database, customers, identities, rows, count, now, new_id)
                rows = []
        count += _bare_customer_batch(database, customers, identities, rows, count, now, new_id)
    return {"seconds": time.perf_counter() - started, "rows": count, "peak_mb": _peak_mb()}


def _bare_customer_batch(
    database: Any, customers: Any, identities: Any, rows: list[list[str]], done: int, now: datetime, new_id: Any
) -> int:
    from sqlalchemy import insert

    if not rows:
        return 0
    people = []
    idents = []
    for i, (name, phone, email, birthday, city, gender) in enumerate(rows):
        cid = new_id()
        people.append(
            {
                "id": cid,
                "member_no": f"B{done + i:012d}",
                "name": name,
                "name_pinyin": "",
                "name_initials": "",
                "gender": "male" if gender == "男" else "female",
                "birthday": datetime.strptime(birthday, "%Y-%m-%d").date(),
                "city": city,
                "preferred_language": "zh-CN",
                "created_at": now,
                "updated_at": now,
            }
        )
        idents.append(
            {
                "id": new_id(),
                "customer_id": cid,
                "kind": "phone",
                "namespace": "",
                "value_index": phone,
                "value_plain": phone,
                "verified": False,
                "created_at": now,
            }
        )
        if email:
            idents.append(
                {
                    "id": new_id(),
                    "customer_id": cid,
                    "kind": "email",
                    "namespace": "",
                    "value_index": email,
                    "value_plain": email,
                    "verified": False,
                    "created_at": now,
                }
            )
    with database.engine.begin() as conn:
        conn.execute(insert(customers), people)
        conn.execute(insert(identities), idents)
    return len(rows)


def step_bare_orders(path: Path) -> dict[str, Any]:
    """Orders with the customer and account already known (read before the clock starts)."""
    from decimal import Decimal

    from sqlalchemy import insert, select

    from guanxi.customers.models import CustomerIdentity
    from guanxi.kit.db import get_database
    from guanxi.kit.ids import new_id
    from guanxi.kit.models import table_of
    from guanxi.loyalty.orders.models import Order, OrderLine
    from guanxi.loyalty.program import config as program
    from guanxi.loyalty.program.models import LoyaltyAccount

    database = get_database()
    identities, accounts = table_of(CustomerIdentity), table_of(LoyaltyAccount)
    with database.unit_of_work() as session:
        config = program.ensure(session)
    with database.engine.begin() as conn:
        owner = dict(
            conn.execute(
                select(identities.c.value_index, identities.c.customer_id).where(identities.c.kind == "phone")
            ).all()
        )
        now = datetime.now(UTC)
        ids = sorted(set(owner.values()))
        for first in range(0, len(ids), 5000):
            conn.execute(
                insert(accounts),
                [
                    {
                        "id": new_id(),
                        "program_id": config.id,
                        "customer_id": cid,
                        "tier_code": config.base_tier.code,
                        "tier_since": now,
                        "enrolled_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for cid in ids[first : first + 5000]
                ],
            )
        account_of = dict(conn.execute(select(accounts.c.customer_id, accounts.c.id)).all())
    orders, lines = table_of(Order), table_of(OrderLine)
    seen_orders: dict[str, tuple[str, int]] = {}  # the ceiling may hold what the importer stages
    started = time.perf_counter()
    count = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch: list[list[str]] = []

        def flush(rows: list[list[str]]) -> int:
            if not rows:
                return 0
            now = datetime.now(UTC)
            order_rows, line_rows = [], []
            for external_id, phone, amount, at, store, category in rows:
                cid = owner[phone]
                paid = Decimal(amount)
                if external_id in seen_orders:  # another line of an order already inserted
                    oid, line_no = seen_orders[external_id]
                    seen_orders[external_id] = (oid, line_no + 1)
                    line_rows.append(
                        {
                            "id": new_id(),
                            "order_id": oid,
                            "line_no": line_no + 1,
                            "category": category,
                            "quantity": 1,
                            "unit_price": paid,
                            "paid_share": paid,
                        }
                    )
                    continue
                oid = new_id()
                seen_orders[external_id] = (oid, 1)
                order_rows.append(
                    {
                        "id": oid,
                        "source": "bare",
                        "external_id": external_id,
                        "request_hash": "",
                        "customer_id": cid,
                        "account_id": account_of[cid],
                        "paid_amount": paid,
                        "currency": "CNY",
                        "occurred_at": datetime.fromisoformat(at),
                        "store": store,
                        "tier_code": "member",
                        "answer": {},
                        "created_by": "bench",
                        "created_at": now,
                    }
                )
                line_rows.append(
                    {
                        "id": new_id(),
                        "order_id": oid,
                        "line_no": 1,
                        "category": category,
                        "quantity": 1,
                        "unit_price": paid,
                        "paid_share": paid,
                    }
                )
            with database.engine.begin() as conn:
                if order_rows:  # a batch of only further lines of earlier orders has none
                    conn.execute(insert(orders), order_rows)
                conn.execute(insert(lines), line_rows)
            return len(rows)

        for row in reader:
            batch.append(row)
            if len(batch) == BATCH:
                count += flush(batch)
                batch = []
        count += flush(batch)
    return {"seconds": time.perf_counter() - started, "rows": count, "peak_mb": _peak_mb()}


def _child(step: str, path: Path, home: Path, database_url: str | None) -> dict[str, Any]:
    env = api._environment(home, database_url)
    env["GUANXI_SECRET_KEY"] = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.imports", "--step", step, "--file", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _rate(run: dict[str, Any]) -> float:
    return float(run["rows"] / run["seconds"]) if run["seconds"] else 0.0


def measure(rows: int, folder: Path, database_url: str | None, say: Any, lines_per_order: int = 1) -> dict[str, Any]:
    customers_csv, orders_csv = write_files(folder, rows, lines_per_order=lines_per_order)
    say(
        f"  {rows:,} rows: files {customers_csv.stat().st_size / 1e6:.0f} MB + {orders_csv.stat().st_size / 1e6:.0f} MB"
    )
    out: dict[str, Any] = {"rows": rows, "lines_per_order": lines_per_order}
    steps = (
        (
            "imports",
            (("import_customers", "import-customers", customers_csv), ("import_orders", "import-orders", orders_csv)),
        ),
        (
            "imports-bare",
            (("bare_customers", "bare-customers", customers_csv), ("bare_orders", "bare-orders", orders_csv)),
        ),
    )
    for label, pair in steps:
        with scratch_database(database_url, label) as (home, database):
            url = str(database.engine.url.render_as_string(hide_password=False)) if database_url else None
            database.dispose()
            for key, step, path in pair:
                run = out[key] = _child(step, path, home, url)
                say(f"    {key:<17} {run['seconds']:.1f} s ({_rate(run):,.0f} rows/s), peak {run['peak_mb']:.0f} MB")
    for kind in ("customers", "orders"):
        ratio = _rate(out[f"import_{kind}"]) / _rate(out[f"bare_{kind}"])
        out[f"ratio_{kind}"] = round(ratio, 3)
        say(f"    {kind}: import at {ratio:.0%} of the bare insert rate")
    customers_csv.unlink()
    orders_csv.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--small", type=int, default=None, help="also run this size to show memory is flat (default rows/10)"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--lines-per-order",
        type=int,
        default=1,
        help="an order-line export: K lines per order, spread over the file (the importer stages them)",
    )
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        steps = {
            "import-customers": lambda p: step_import("customers", p),
            "import-orders": lambda p: step_import("orders", p),
            "bare-customers": step_bare_customers,
            "bare-orders": step_bare_orders,
        }
        print(json.dumps(steps[args.step](args.file)))
        return 0
    say = print
    info = api.machine()
    kind = "postgresql" if args.database_url else "sqlite"
    small = args.small or max(args.rows // 10, 1000)
    say(f"guanxi import benchmark ({kind}) on {info['cpu']} ({info['cores']} CPUs)")
    folder = Path(tempfile.mkdtemp(prefix="guanxi-bench-import-files-"))
    try:
        k = args.lines_per_order
        runs = [
            measure(small, folder, args.database_url, say, k),
            measure(args.rows, folder, args.database_url, say, k),
        ]
    finally:
        for path in folder.glob("*"):
            path.unlink()
        folder.rmdir()
    big = runs[-1]
    met = big["ratio_customers"] >= AIM and big["ratio_orders"] >= AIM
    growth = {
        k: round(runs[1][f"import_{k}"]["peak_mb"] / runs[0][f"import_{k}"]["peak_mb"], 2)
        for k in ("customers", "orders")
    }
    sizes = f"{runs[1]['rows']:,} rows vs {runs[0]['rows']:,} rows"
    say(f"peak memory {sizes}: customers x{growth['customers']}, orders x{growth['orders']}")
    say(f"aim: import >= {AIM:.0%} of the bare insert rate -> {'met' if met else 'MISSED'}")
    report = {
        "benchmark": "imports",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "runs": runs,
        "memory_growth": growth,
        "met": met,
    }
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"imports-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    say(f"results written to {out}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
