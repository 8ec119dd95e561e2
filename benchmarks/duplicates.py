"""Duplicate detection at scale, next to plain baselines measured in the same run.

    .venv/bin/python -m benchmarks.duplicates [--customers 1000000] [--dup-rate 0.03] [--database-url URL]

Generates N customers straight into a scratch database with Core bulk inserts: names drawn from
common Chinese surnames and given-name characters, birthdays (80% known), cities, a phone for 70%
and an email for 30% (encrypted, with blind indexes, as the service stores them). A share of them
(`--dup-rate`) get a second record for the same person from another channel: same name or a
homophone (张/章), the same birthday or one with a typo, the same city, a phone one digit off or
none, the same mailbox name on another domain. Then times:
- ours: `customers.duplicates.detect` (read rows + decrypt, splink scoring, candidates written);
- baseline: the same rows fetched by the bare database driver (customers' matching columns and
  the still-encrypted phone and email identities: the floor for any approach that starts from
  the operational database) plus a plain DuckDB self-join on the same blocking keys that only
  counts the candidate pairs (the floor for comparing anything at all).

Prints recall on the planted pairs and the precision against them. Results go to
benchmarks/results/duplicates-<db>-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.liability import RESULTS, _env, scratch_database

CHUNK = 20_000
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂兰华红玉梅鹏飞辉斌宇浩凯健俊帆欣怡"
    "佳琪雪婷慧颖晨阳博文思雨子涵一诺子轩浩然梓萱欣然"
)
HOMOPHONES = {"张": "章", "章": "张", "李": "黎", "黎": "李", "王": "汪", "汪": "王", "陈": "程", "程": "陈"}
CITIES = (
    ("上海", "上海"),
    ("北京", "北京"),
    ("深圳", "广东"),
    ("广州", "广东"),
    ("杭州", "浙江"),
    ("成都", "四川"),
    ("武汉", "湖北"),
    ("南京", "江苏"),
    ("苏州", "江苏"),
    ("重庆", "重庆"),
    ("西安", "陕西"),
    ("天津", "天津"),
    ("长沙", "湖南"),
    ("郑州", "河南"),
    ("青岛", "山东"),
    ("宁波", "浙江"),
    ("厦门", "福建"),
    ("合肥", "安徽"),
    ("昆明", "云南"),
    ("沈阳", "辽宁"),
)
DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "sina.com")


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _person(rng: random.Random, i: int) -> dict[str, Any]:
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    city, province = CITIES[min(int(rng.expovariate(0.25)), len(CITIES) - 1)]
    birthday = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55)) if rng.random() < 0.8 else None
    phone = f"+861{rng.choice('3578')}{rng.randrange(10**9):09d}" if rng.random() < 0.7 else None
    email = f"u{i}x{rng.randrange(1000)}@{rng.choice(DOMAINS)}" if rng.random() < 0.3 else None
    return {"name": name, "city": city, "province": province, "birthday": birthday, "phone": phone, "email": email}


def _twin(rng: random.Random, p: dict[str, Any]) -> dict[str, Any]:
    name = p["name"]
    if rng.random() < 0.2 and name[0] in HOMOPHONES:
        name = HOMOPHONES[name[0]] + name[1:]
    birthday = p["birthday"]
    if birthday is not None and rng.random() < 0.1:
        birthday = birthday.replace(year=birthday.year + 1) if birthday.month != 2 or birthday.day != 29 else birthday
    phone = None
    if p["phone"] and rng.random() < 0.5:
        digits = list(p["phone"])
        pos = rng.randrange(5, len(digits))
        digits[pos] = str((int(digits[pos]) + 1) % 10)
        phone = "".join(digits)
    email = None
    if p["email"] and rng.random() < 0.6:
        email = p["email"].split("@")[0] + "@" + rng.choice(DOMAINS)
    return {**p, "name": name, "birthday": birthday, "phone": phone, "email": email}


def load(
    db: Any, *, customers: int, dup_rate: float, now: datetime, seed: int = 11
) -> tuple[dict[str, float], set[tuple[str, str]]]:
    from sqlalchemy import insert

    from guanxi.customers.identities import blind_index
    from guanxi.customers.models import Customer, CustomerIdentity
    from guanxi.customers.normalize import name_search_keys
    from guanxi.kit.crypto import get_cipher
    from guanxi.kit.ids import new_id

    rng = random.Random(seed)
    cipher = get_cipher()
    keys: dict[str, tuple[str, str]] = {}
    planted: set[tuple[str, str]] = set()
    seen_phones: set[str] = set()
    seen_emails: set[str] = set()
    n_twins = int(customers * dup_rate)
    n_people = customers - n_twins
    started = time.perf_counter()

    def rows() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        twins_left = n_twins
        for i in range(n_people):
            person = _person(rng, i)
            group = [person]
            if twins_left and rng.random() < n_twins / n_people * 1.05:
                group.append(_twin(rng, person))
                twins_left -= 1
            ids = []
            for p in group:
                cid = new_id()
                ids.append(cid)
                if p["name"] not in keys:
                    keys[p["name"]] = name_search_keys(p["name"])
                pinyin, initials = keys[p["name"]]
                idents = []
                for kind, value, seen in (("phone", p["phone"], seen_phones), ("email", p["email"], seen_emails)):
                    if value and value not in seen:
                        seen.add(value)
                        idents.append(
                            {
                                "id": new_id(),
                                "customer_id": cid,
                                "kind": kind,
                                "namespace": "",
                                "value_index": blind_index(kind, "", value),
                                "value_enc": cipher.encrypt(value, context=kind),
                                "value_plain": None,
                                "verified": False,
                                "created_at": now,
                            }
                        )
                yield (
                    {
                        "id": cid,
                        "member_no": f"GX{rows_done[0]:010d}",
                        "name": p["name"],
                        "name_pinyin": pinyin,
                        "name_initials": initials,
                        "gender": "unknown",
                        "birthday": p["birthday"],
                        "province": p["province"],
                        "city": p["city"],
                        "preferred_language": "zh-CN",
                        "created_at": now,
                        "updated_at": now,
                    },
                    idents,
                )
                rows_done[0] += 1
            if len(ids) == 2:
                planted.add((min(ids), max(ids)))

    rows_done = [1]
    customer_table = insert(Customer)
    identity_table = insert(CustomerIdentity)
    with db.engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        idents: list[dict[str, Any]] = []
        for customer, its in rows():
            batch.append(customer)
            idents.extend(its)
            if len(batch) >= CHUNK:
                conn.execute(customer_table, batch)
                if idents:
                    conn.execute(identity_table, idents)
                batch, idents = [], []
        if batch:
            conn.execute(customer_table, batch)
        if idents:
            conn.execute(identity_table, idents)
    return {"load_s": time.perf_counter() - started, "customers_loaded": rows_done[0] - 1}, planted


def baseline_read(db: Any) -> int:
    """The same rows fetched by the bare driver: live customers' matching columns and the phone and
    email identities (still encrypted)."""
    with db.engine.connect() as conn:
        customers = conn.exec_driver_sql(
            "SELECT id, name, name_pinyin, name_initials, gender, birthday, province, city "
            "FROM customers WHERE deleted_at IS NULL"
        ).fetchall()
        identities = conn.exec_driver_sql(
            "SELECT customer_id, kind, value_enc FROM customer_identities WHERE kind IN ('phone', 'email')"
        ).fetchall()
        return len(customers) + len(identities)


def baseline_join(table: Any) -> int:
    """A plain DuckDB self-join on the same blocking keys: count the distinct candidate pairs."""
    import duckdb

    from guanxi.customers.duplicates import BLOCKING_KEYS

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads TO 2")
        con.register("c", table)
        unions = " UNION ".join(
            "SELECT l.unique_id AS a, r.unique_id AS b FROM c l JOIN c r ON "
            + " AND ".join(f"l.{k} = r.{k}" for k in keys)
            + " WHERE l.unique_id < r.unique_id"
            for keys in BLOCKING_KEYS
        )
        return int(con.execute(f"SELECT count(*) FROM ({unions})").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def measure(db: Any, planted: set[tuple[str, str]]) -> dict[str, Any]:
    from sqlalchemy import select

    from guanxi.customers import duplicates
    from guanxi.customers.merge_models import DuplicateCandidate
    from guanxi.kit.principal import SYSTEM

    result: dict[str, Any] = {}
    started = time.perf_counter()
    result["baseline_rows"] = baseline_read(db)
    result["baseline_read_s"] = time.perf_counter() - started
    with db.unit_of_work(read_only=True) as session:
        table = duplicates.read_customers(session)
    started = time.perf_counter()
    result["blocked_pairs"] = baseline_join(table)
    result["baseline_join_s"] = time.perf_counter() - started
    del table
    with db.unit_of_work() as session:
        report = duplicates.detect(session, SYSTEM)
    result.update(
        ours_total_s=report.seconds["total"],
        ours_read_s=report.seconds["read"],
        ours_score_s=report.seconds["score"],
        ours_write_s=report.seconds["write"],
        candidates=report.created,
    )
    result["baseline_s"] = result["baseline_read_s"] + result["baseline_join_s"]
    result["ratio"] = result["ours_total_s"] / result["baseline_s"]
    result["score_vs_join_ratio"] = result["ours_score_s"] / result["baseline_join_s"]
    with db.unit_of_work(read_only=True) as session:
        found = {
            (a, b)
            for a, b in session.execute(select(DuplicateCandidate.customer_a_id, DuplicateCandidate.customer_b_id))
        }
    hits = len(found & planted)
    result["planted_pairs"] = len(planted)
    result["recall"] = round(hits / len(planted), 4) if planted else None
    result["precision_vs_planted"] = round(hits / len(found), 4) if found else None
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.duplicates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to generate (default 1000000)")
    parser.add_argument("--dup-rate", type=float, default=0.03, help="share of records that are a second record")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL; a scratch database is made there")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (SQLite)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="guanxi-bench-duplicates-"))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with scratch_database(args.database_url, home) as url:
            _env(home, url)
            from guanxi.config import reset_settings
            from guanxi.kit.db import Database, set_database
            from guanxi.migrations.all_models import metadata

            reset_settings()
            db = Database(url)
            set_database(db)
            metadata.create_all(db.engine)
            print(f"generating {args.customers:,} customers into {db.dialect} ...", flush=True)
            result: dict[str, Any] = {"database": db.dialect, "customers": args.customers, "dup_rate": args.dup_rate}
            timings, planted = load(db, customers=args.customers, dup_rate=args.dup_rate, now=now)
            result.update(timings)
            print(f"loaded in {timings['load_s']:.1f} s; detecting ...", flush=True)
            result.update(measure(db, planted))
            set_database(None)
            db.engine.dispose()
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    result.update(machine=platform.node(), cpus=os.cpu_count(), python=platform.python_version(), date=now.isoformat())
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"duplicates-{result['database']}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwritten to {path}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    print(
        f"\n{r['database']}: {r['customers']:,} customers ({r['planted_pairs']:,} planted pairs), "
        f"load {r['load_s']:.1f} s"
    )
    print(f"{'':44}{'ours (s)':>10}{'baseline (s)':>14}{'ratio':>8}")
    print(
        f"{'detection vs read + plain blocking join':44}{r['ours_total_s']:>10.1f}{r['baseline_s']:>14.1f}"
        f"{r['ratio']:>8.2f}"
    )
    print(
        f"{'  scoring (splink) vs plain blocking join':44}{r['ours_score_s']:>10.1f}{r['baseline_join_s']:>14.1f}"
        f"{r['score_vs_join_ratio']:>8.2f}"
    )
    print(
        f"{'  reading rows + decrypting vs bare driver':44}{r['ours_read_s']:>10.1f}{r['baseline_read_s']:>14.1f}"
        f"{r['ours_read_s'] / r['baseline_read_s']:>8.2f}"
    )
    print(f"{'  writing candidates':44}{r['ours_write_s']:>10.1f}")
    print(
        f"blocked pairs {r['blocked_pairs']:,}; candidates {r['candidates']:,}; recall on planted pairs "
        f"{r['recall']}, precision against them {r['precision_vs_planted']}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
