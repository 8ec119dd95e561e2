"""RFM three ways on one warehouse: ours (Ibis on DuckDB), a hand-written DuckDB query (the
ceiling), and plain pandas (groupby + rank). Same purchases, same window, same tie rule (a
value's score comes from the lowest rank of its ties: percent_rank, `rank(method="min")`), same
segment map; the frames are checked to be identical. The SQL baselines fetch their result as
Ibis does (an Arrow table, then pandas): DuckDB's own `.df()` was several times slower on the
customer ids in one run, which would flatter ours.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from guanxi.analytics import rfm
from guanxi.analytics.purchases import COUNTED_STATUSES, end_of

COLUMNS = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
]
INTEGERS = ["recency_days", "frequency", "r_score", "f_score", "m_score"]

# The quintile of a percent rank, as `rfm.quintile` defines it: 1..5, ties share the lowest rank.
_QUINTILE = "CAST(least(5, CAST(floor(percent_rank() OVER (ORDER BY {v}) * 5) AS BIGINT) + 1) AS SMALLINT)"

HAND_WRITTEN_SQL = f"""
WITH live AS (
    SELECT id FROM customers
    WHERE deleted_at IS NULL AND merged_into_id IS NULL AND created_at < $end
), purchase AS (
    SELECT o.customer_id, CAST(o.occurred_at AS DATE) AS day,
           greatest(CAST(o.paid_amount - o.refunded_amount AS DOUBLE), 0.0) AS net
    FROM orders o JOIN live ON live.id = o.customer_id
    WHERE o.status IN ('completed', 'partially_refunded', 'refunded') AND o.occurred_at < $end
), occasion AS (
    SELECT customer_id, day, sum(net) AS net FROM purchase GROUP BY customer_id, day
), buyer AS (
    SELECT customer_id,
           date_diff('day', max(day), $as_of) AS recency_days,
           sum(CASE WHEN day >= $start THEN 1 ELSE 0 END) AS frequency,
           sum(CASE WHEN day >= $start THEN net ELSE 0.0 END) AS monetary
    FROM occasion GROUP BY customer_id
), scored AS (
    SELECT customer_id, recency_days, frequency, monetary,
           {_QUINTILE.format(v="recency_days DESC")} AS r_score,
           {_QUINTILE.format(v="frequency")} AS f_score,
           {_QUINTILE.format(v="monetary")} AS m_score
    FROM buyer WHERE frequency > 0
)
SELECT *, round(r_score * $wr + f_score * $wf + m_score * $wm, 3) AS rfm_score,
       CASE
           WHEN r_score = 5 AND f_score >= 4 THEN 'champions'
           WHEN r_score BETWEEN 3 AND 4 AND f_score >= 4 THEN 'loyal'
           WHEN r_score >= 4 AND f_score BETWEEN 2 AND 3 THEN 'potential_loyalists'
           WHEN r_score = 5 AND f_score = 1 THEN 'new'
           WHEN r_score = 4 AND f_score = 1 THEN 'promising'
           WHEN r_score = 3 AND f_score = 3 THEN 'need_attention'
           WHEN r_score = 3 AND f_score <= 2 THEN 'about_to_sleep'
           WHEN r_score <= 2 AND f_score = 5 THEN 'cant_lose'
           WHEN r_score <= 2 AND f_score BETWEEN 3 AND 4 THEN 'at_risk'
           WHEN r_score <= 2 AND f_score <= 2 THEN 'hibernating'
           ELSE 'other'
       END AS rfm_segment
FROM scored
"""


def ours(connection: Any, as_of: date, window_days: int) -> Callable[[], pd.DataFrame]:
    import ibis

    from guanxi.analytics.purchases import Warehouse, behaviour

    def run() -> pd.DataFrame:
        w = Warehouse.on(ibis.duckdb.from_connection(connection))
        scored = rfm.with_segments(rfm.scores(behaviour(w, as_of, window_days=window_days)))
        return scored.select(*COLUMNS).execute()

    return run


def ours_sql(connection: Any, as_of: date, window_days: int) -> str:
    """The SQL Ibis compiles ours to (run directly, it separates the query from Ibis' own work)."""
    import ibis

    from guanxi.analytics.purchases import Warehouse, behaviour

    w = Warehouse.on(ibis.duckdb.from_connection(connection))
    scored = rfm.with_segments(rfm.scores(behaviour(w, as_of, window_days=window_days)))
    return str(ibis.to_sql(scored.select(*COLUMNS), dialect="duckdb"))


def hand_written(connection: Any, as_of: date, window_days: int) -> Callable[[], pd.DataFrame]:
    weights = rfm.PRESETS["balanced"]
    parameters = {
        "end": end_of(as_of),
        "as_of": as_of,
        "start": as_of - timedelta(days=window_days - 1),
        "wr": weights.r,
        "wf": weights.f,
        "wm": weights.m,
    }

    def run() -> pd.DataFrame:
        return connection.execute(HAND_WRITTEN_SQL, parameters).to_arrow_table().to_pandas()

    return run


def pandas_inputs(connection: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = connection.execute("SELECT id, deleted_at, merged_into_id, created_at FROM customers").df()
    orders = connection.execute(
        "SELECT customer_id, occurred_at, paid_amount, refunded_amount, status FROM orders"
    ).df()
    return customers, orders


def plain_pandas(
    customers: pd.DataFrame, orders: pd.DataFrame, as_of: date, window_days: int
) -> Callable[[], pd.DataFrame]:
    end = pd.Timestamp(end_of(as_of))
    start = pd.Timestamp(as_of - timedelta(days=window_days - 1))
    cutoff = pd.Timestamp(as_of)
    weights = rfm.PRESETS["balanced"]

    def quintile(values: pd.Series, *, descending: bool = False) -> pd.Series:
        rank = values.rank(method="min", ascending=not descending)
        share = (rank - 1) / (len(values) - 1) if len(values) > 1 else rank * 0.0
        return np.minimum(5, np.floor(share * 5).astype("int64") + 1)

    def run() -> pd.DataFrame:
        c = customers
        live = c.loc[c.deleted_at.isna() & c.merged_into_id.isna() & (c.created_at < end), "id"]
        o = orders[orders.status.isin(COUNTED_STATUSES) & (orders.occurred_at < end)]
        o = o[o.customer_id.isin(live)]
        net = (o.paid_amount - o.refunded_amount).clip(lower=0.0)
        days = pd.DataFrame({"customer_id": o.customer_id, "day": o.occurred_at.dt.floor("D"), "net": net})
        occasions = days.groupby(["customer_id", "day"], sort=False, as_index=False)["net"].sum()
        in_window = occasions.day >= start
        occasions["f"] = in_window.astype("int64")
        occasions["m"] = occasions.net.where(in_window, 0.0)
        b = occasions.groupby("customer_id", sort=False).agg(
            last=("day", "max"), frequency=("f", "sum"), monetary=("m", "sum")
        )
        b = b[b.frequency > 0].reset_index()
        b["recency_days"] = (cutoff - b["last"]).dt.days
        b["r_score"] = quintile(b.recency_days, descending=True)
        b["f_score"] = quintile(b.frequency)
        b["m_score"] = quintile(b.monetary)
        b["rfm_score"] = (b.r_score * weights.r + b.f_score * weights.f + b.m_score * weights.m).round(3)
        conditions = [
            b.r_score.between(*rule.r) & b.f_score.between(*rule.f) & b.m_score.between(*rule.m)
            for rule in rfm.STANDARD_MAP
        ]
        b["rfm_segment"] = np.select(conditions, [rule.segment for rule in rfm.STANDARD_MAP], default=rfm.OTHER)
        return b[COLUMNS]

    return run


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float, Any]:
    """Fastest and median seconds over `rounds` calls (after one unmeasured call), and the result.
    The fastest counts: the machine is shared, and other work only ever adds time."""
    result = fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def differences(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    """Where two RFM frames differ (empty: identical to 1e-9 on the floats, exactly elsewhere)."""
    a = left.sort_values("customer_id", ignore_index=True)
    b = right.sort_values("customer_id", ignore_index=True)
    if len(a) != len(b):
        return [f"rows {len(a)} vs {len(b)}"]
    found = []
    if not (a.customer_id.to_numpy() == b.customer_id.to_numpy()).all():
        return ["customers differ"]
    for column in INTEGERS:
        unequal = int((a[column].astype("int64").to_numpy() != b[column].astype("int64").to_numpy()).sum())
        if unequal:
            found.append(f"{column}: {unequal} rows")
    for column in ("monetary", "rfm_score"):
        unequal = int((~np.isclose(a[column].astype(float), b[column].astype(float), rtol=0, atol=1e-9)).sum())
        if unequal:
            found.append(f"{column}: {unequal} rows")
    unequal = int((a.rfm_segment.astype(str).to_numpy() != b.rfm_segment.astype(str).to_numpy()).sum())
    if unequal:
        found.append(f"rfm_segment: {unequal} rows")
    return found


def compare(connection: Any, as_of: date, window_days: int, rounds: int, say: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    compiled = ours_sql(connection, as_of, window_days)
    runs: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("ours (Ibis, DuckDB)", ours(connection, as_of, window_days)),
        ("ours' compiled SQL run directly", lambda: connection.execute(compiled).to_arrow_table().to_pandas()),
        ("hand-written DuckDB SQL", hand_written(connection, as_of, window_days)),
    ]
    started = time.perf_counter()
    customers, orders = pandas_inputs(connection)
    results["pandas_load_s"] = round(time.perf_counter() - started, 3)
    say(f"  pandas inputs read from DuckDB (not in its time): {results['pandas_load_s']:.2f} s, {len(orders):,} orders")
    runs.append(("plain pandas", plain_pandas(customers, orders, as_of, window_days)))
    for label, fn in runs:
        fastest, median, frame = timed(fn, rounds)
        frames[label] = frame
        results[label] = {"fastest_s": round(fastest, 4), "median_s": round(median, 4), "rows": len(frame)}
        say(f"  RFM {label:34} {fastest:8.3f} s (median {median:.3f} s)  {len(frame):,} buyers")
    reference = frames["ours (Ibis, DuckDB)"]
    identical = {}
    for label, frame in frames.items():
        if frame is not reference:
            found = differences(reference, frame)
            identical[label] = found or "identical"
            say(f"  vs ours: {label}: {'identical' if not found else '; '.join(found)}")
    ours_s = results["ours (Ibis, DuckDB)"]["fastest_s"]
    results["identical"] = identical
    results["ours_over_sql"] = round(ours_s / results["hand-written DuckDB SQL"]["fastest_s"], 2)
    results["pandas_over_ours"] = round(results["plain pandas"]["fastest_s"] / ours_s, 2)
    with_read = results["plain pandas"]["fastest_s"] + results["pandas_load_s"]
    results["pandas_with_its_read_over_ours"] = round(with_read / ours_s, 2)
    results["segments"] = {k: int(v) for k, v in reference.rfm_segment.value_counts().items()}
    return results
