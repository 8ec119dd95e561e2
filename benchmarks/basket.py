"""Basket rules at scale: ours (DuckDB through Ibis) next to mlxtend's fpgrowth + association_rules.

    .venv/bin/python -m benchmarks.basket [--orders 3000000] [--products 2000] [--categories 40]

Generates a synthetic catalogue (products spread over categories, popularity falling off like a Zipf
law) and orders of 1 + Poisson(2.1) lines drawn by popularity, with planted associations on top: at
category level 奶粉 → 纸尿裤, 牙刷 → 牙膏, 啤酒 → 零食 (an order holding a product of the first
category gets one of the second, half the time), and at product level 40 product pairs (a → b, half
the time) and one triple (the two most popular products together → a third, 70%). Duplicate lines
in an order happen naturally. At the default 3,000,000 orders that is about 10,000,000 lines.

For each level (products: the sku column; categories: the category column), with the thresholds
printed, it measures:
- ours: `guanxi.analytics.basket.basket_rules` over the lines already in a DuckDB table, executed
  into a pandas DataFrame (the whole level-wise search and the rules, in the engine);
- baseline: mlxtend `fpgrowth(max_len=3)` + `association_rules(metric="confidence")` over the
  boolean one-hot DataFrame (orders × items) built beforehand; building it is timed apart and not
  counted in the ratio, which flatters the baseline.
Then checks the two rule sets are identical (same antecedent/consequent pairs, support, confidence
and lift within 1e-9) and prints the ratio baseline / ours (above 1: ours is faster).
Last, `recommend` is timed alone (top 5 products per customer, the orders shared among `--customers`
customers by order_id modulo; no baseline).
The one-hot frame is dense (orders × products bytes, 6 GB at the default size); `--baseline-orders`
runs the baseline (and ours again, for the ratio) on the first N orders only when the full frame
does not fit. Results go to benchmarks/results/basket-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
TOLERANCE = 1e-9
CATEGORY_NAMES = (
    "奶粉",
    "纸尿裤",
    "湿巾",
    "奶瓶",
    "辅食",
    "童装",
    "玩具",
    "孕妇装",
    "牙刷",
    "牙膏",
    "洗发水",
    "沐浴露",
    "面膜",
    "口红",
    "香水",
    "防晒",
    "咖啡",
    "茶叶",
    "牛奶",
    "酸奶",
    "面包",
    "零食",
    "啤酒",
    "白酒",
    "红酒",
    "饮料",
    "大米",
    "食用油",
    "调味品",
    "方便面",
    "纸巾",
    "洗衣液",
    "厨具",
    "床品",
    "毛巾",
    "电池",
    "耳机",
    "充电器",
    "宠物粮",
    "猫砂",
)
PLANTED_CATEGORIES = (("奶粉", "纸尿裤"), ("牙刷", "牙膏"), ("啤酒", "零食"))
LEVELS = {
    # level: (column, min_support, min_confidence)
    "products": ("sku", 0.0005, 0.1),
    "categories": ("category", 0.01, 0.2),
}


def generate(orders: int, products: int, categories: int, seed: int) -> pd.DataFrame:
    """Order lines: order_id, sku, category (about 3.3 lines an order)."""
    if categories > len(CATEGORY_NAMES):
        raise SystemExit(f"at most {len(CATEGORY_NAMES)} categories")
    rng = np.random.default_rng(seed)
    category_of = np.arange(products) % categories
    popularity = 1.0 / np.arange(1, products + 1) ** 0.8
    popularity = rng.permutation(popularity)
    popularity /= popularity.sum()

    sizes = 1 + rng.poisson(2.1, size=orders)
    order_of = np.repeat(np.arange(orders, dtype=np.int64), sizes)
    product_of = rng.choice(products, size=order_of.size, p=popularity)
    parts_order = [order_of]
    parts_product = [product_of]

    names = list(CATEGORY_NAMES[:categories])
    for first, second in PLANTED_CATEGORIES:
        if first in names and second in names:
            hit = (category_of[product_of] == names.index(first)) & (rng.random(order_of.size) < 0.5)
            members = np.flatnonzero(category_of == names.index(second))
            parts_order.append(order_of[hit])
            parts_product.append(rng.choice(members, size=int(hit.sum())))

    by_popularity = np.argsort(-popularity)
    partner = np.full(products, -1)
    middle = by_popularity[20 : 20 + 80]
    partner[middle[0::2]] = middle[1::2]
    hit = (partner[product_of] >= 0) & (rng.random(order_of.size) < 0.5)
    parts_order.append(order_of[hit])
    parts_product.append(partner[product_of[hit]])

    x, y, z = by_popularity[0], by_popularity[1], by_popularity[2]
    has = np.zeros((2, orders), dtype=bool)
    has[0, order_of[product_of == x]] = True
    has[1, order_of[product_of == y]] = True
    both = np.flatnonzero(has[0] & has[1] & (rng.random(orders) < 0.7))
    parts_order.append(both)
    parts_product.append(np.full(both.size, z))

    order_id = np.concatenate(parts_order)
    product = np.concatenate(parts_product)
    sku_names = np.array([f"P{p:05d}" for p in range(products)], dtype=object)
    category_names = np.array(names, dtype=object)
    return pd.DataFrame(
        {
            "order_id": order_id,
            "sku": pd.array(sku_names[product], dtype="string"),
            "category": pd.array(category_names[category_of[product]], dtype="string"),
        }
    )


def one_hot(lines: pd.DataFrame, column: str) -> pd.DataFrame:
    """The boolean orders × items frame mlxtend reads (dense: one byte a cell)."""
    order_index, orders = pd.factorize(lines["order_id"], sort=True)
    item_index, items = pd.factorize(lines[column], sort=True)
    cells = np.zeros((len(orders), len(items)), dtype=bool)
    cells[order_index, item_index] = True
    return pd.DataFrame(cells, columns=list(items), copy=False)


def rule_map(frame: pd.DataFrame) -> dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[float, float, float]]:
    return {
        (tuple(sorted(a)), tuple(sorted(c))): (s, conf, lift)
        for a, c, s, conf, lift in zip(
            frame["antecedents"],
            frame["consequents"],
            frame["support"],
            frame["confidence"],
            frame["lift"],
            strict=True,
        )
    }


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, Any]:
    mine, other = rule_map(ours), rule_map(theirs)
    same_rules = set(mine) == set(other)
    worst = max(
        (abs(a - b) for key in set(mine) & set(other) for a, b in zip(mine[key], other[key], strict=True)),
        default=0.0,
    )
    return {
        "rules_ours": len(mine),
        "rules_mlxtend": len(other),
        "identical": same_rules and worst <= TOLERANCE,
        "max_abs_diff": worst,
        "only_ours": len(set(mine) - set(other)),
        "only_mlxtend": len(set(other) - set(mine)),
    }


def time_ours(con: Any, table: Any, column: str, min_support: float, min_confidence: float) -> tuple[float, Any]:
    from guanxi.analytics.basket import basket_rules

    started = time.perf_counter()
    rules = con.execute(
        basket_rules(table, item=column, basket="order_id", min_support=min_support, min_confidence=min_confidence)
    )
    return time.perf_counter() - started, rules


def time_mlxtend(frame: pd.DataFrame, min_support: float, min_confidence: float) -> tuple[float, pd.DataFrame]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    started = time.perf_counter()
    itemsets = fpgrowth(frame, min_support=min_support, use_colnames=True, max_len=3)
    if len(itemsets) == 0:
        rules = pd.DataFrame(columns=["antecedents", "consequents", "support", "confidence", "lift"])
    else:
        rules = association_rules(itemsets, num_itemsets=len(frame), metric="confidence", min_threshold=min_confidence)
    return time.perf_counter() - started, rules


def measure_level(
    con: Any, lines: pd.DataFrame, level: str, baseline_orders: int | None, repeat: int
) -> dict[str, Any]:
    import ibis

    column, min_support, min_confidence = LEVELS[level]
    row: dict[str, Any] = {
        "level": level,
        "column": column,
        "min_support": min_support,
        "min_confidence": min_confidence,
    }
    full = con.table("lines")
    times = []
    for _ in range(repeat):
        seconds, ours_full = time_ours(con, full, column, min_support, min_confidence)
        times.append(seconds)
    row["ours_full_s"] = min(times)
    row["rules_full"] = len(ours_full)
    row["top_rules"] = [
        f"{'+'.join(a)} -> {'+'.join(c)} (lift {lift:.2f}, confidence {confidence:.2f})"
        for a, c, lift, confidence in ours_full[["antecedents", "consequents", "lift", "confidence"]].values[:5]
    ]
    print(f"  {level}: ours on all {lines['order_id'].nunique():,} orders {row['ours_full_s']:.2f} s", flush=True)

    subset, table = lines, full
    if baseline_orders is not None:
        subset = lines[lines["order_id"] < baseline_orders]
        table = full.filter(full.order_id < ibis.literal(baseline_orders))
        seconds, ours = time_ours(con, table, column, min_support, min_confidence)
        times = [seconds] + [time_ours(con, table, column, min_support, min_confidence)[0] for _ in range(repeat - 1)]
    else:
        ours = ours_full
    row["ours_s"] = min(times)
    row["orders_compared"] = int(subset["order_id"].nunique())
    row["lines_compared"] = len(subset)

    started = time.perf_counter()
    frame = one_hot(subset, column)
    row["one_hot_build_s"] = time.perf_counter() - started
    row["one_hot_shape"] = list(frame.shape)
    row["one_hot_bytes"] = int(frame.shape[0]) * int(frame.shape[1])
    print(
        f"  {level}: one-hot {frame.shape[0]:,} × {frame.shape[1]:,} built in {row['one_hot_build_s']:.1f} s",
        flush=True,
    )
    row["mlxtend_s"], theirs = time_mlxtend(frame, min_support, min_confidence)
    del frame
    row.update(compare(ours, theirs))
    row["ratio"] = row["mlxtend_s"] / row["ours_s"]
    print(f"  {level}: mlxtend {row['mlxtend_s']:.2f} s; identical: {row['identical']}", flush=True)
    return row


def measure_recommend(con: Any, customers: int) -> dict[str, Any]:
    """Top 5 products per customer from the product rules (no baseline: mlxtend has no such step)."""
    from guanxi.analytics.basket import basket_rules, recommend

    column, min_support, min_confidence = LEVELS["products"]
    lines = con.table("lines")
    rules = basket_rules(lines, item=column, min_support=min_support, min_confidence=min_confidence)
    rules.execute()  # the rule levels are stored by now; what follows is the recommendation itself
    bought = lines.select(customer_id=lines.order_id % customers, item=lines[column])
    started = time.perf_counter()
    top = con.execute(recommend(rules, bought, k=5))
    seconds = time.perf_counter() - started
    row = {"customers": customers, "rows": len(top), "customers_served": int(top["customer_id"].nunique())}
    row["recommend_s"] = seconds
    print(f"  recommend: {customers:,} customers, {len(top):,} rows in {seconds:.2f} s", flush=True)
    return row


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\n{result['orders']:,} orders, {result['lines']:,} lines, {result['products']:,} products in "
        f"{result['categories']} categories ({result['date']}, {result['cpus']} cpus, load average after "
        f"{result['load_average_after']})"
    )
    print(f"{'level':12}{'orders cmp':>12}{'rules':>8}{'ours (s)':>10}{'mlxtend (s)':>13}{'ratio':>8}  identical")
    for row in result["levels"]:
        print(
            f"{row['level']:12}{row['orders_compared']:>12,}{row['rules_ours']:>8}{row['ours_s']:>10.2f}"
            f"{row['mlxtend_s']:>13.2f}{row['ratio']:>8.1f}  {row['identical']} (max diff {row['max_abs_diff']:.1e})"
        )
        print(
            f"{'':12}ours on all orders: {row['ours_full_s']:.2f} s, {row['rules_full']} rules; one-hot build "
            f"{row['one_hot_build_s']:.1f} s (not counted), support ≥ {row['min_support']}, "
            f"confidence ≥ {row['min_confidence']}"
        )
        for rule in row["top_rules"]:
            print(f"{'':12}  {rule}")
    if "recommend" in result:
        r = result["recommend"]
        print(
            f"recommend (top 5 products): {r['customers']:,} customers, {r['customers_served']:,} with a "
            f"recommendation, {r['rows']:,} rows, {r['recommend_s']:.2f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.basket", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--orders", type=int, default=200_000, help="orders to generate (default 200000; full: 3000000)"
    )
    parser.add_argument("--products", type=int, default=2000, help="products in the catalogue (default 2000)")
    parser.add_argument("--categories", type=int, default=40, help="categories (default 40)")
    parser.add_argument(
        "--baseline-orders",
        type=int,
        default=None,
        help="compare with mlxtend on the first N orders only (default: all)",
    )
    parser.add_argument("--levels", default="products,categories", help="comma-separated: products, categories")
    parser.add_argument("--repeat", type=int, default=1, help="runs of ours per measure, the best is kept (default 1)")
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="recommend: customers owning the orders (order_id mod N; default orders / 3; 0: skip)",
    )
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args(argv)
    import ibis
    import mlxtend.frequent_patterns  # noqa: F401  (it resets the warning filters when imported)

    # ibis 12 on DuckDB 1.5 and pandas 3 warn on every query about their own deprecations
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)

    started = time.perf_counter()
    lines = generate(args.orders, args.products, args.categories, args.seed)
    print(
        f"generated {len(lines):,} lines for {args.orders:,} orders in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    con = ibis.duckdb.connect()
    con.create_table("lines", lines)
    result: dict[str, Any] = {
        "orders": args.orders,
        "lines": len(lines),
        "products": args.products,
        "categories": args.categories,
        "levels": [],
    }
    for level in args.levels.split(","):
        result["levels"].append(measure_level(con, lines, level.strip(), args.baseline_orders, max(1, args.repeat)))
    customers = args.orders // 3 if args.customers is None else args.customers
    if customers > 0:
        result["recommend"] = measure_recommend(con, customers)
    con.disconnect()
    now = datetime.now(UTC).replace(microsecond=0)
    result.update(
        machine=platform.node(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        date=now.isoformat(),
        load_average_after=[round(value, 2) for value in os.getloadavg()],
    )
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"basket-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
