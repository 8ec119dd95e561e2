"""The files a run leaves in its output folder (see `analytics.outputs`), computed in the engine.

Basket rules are found on order baskets, at two levels: categories (few, broad: "母婴 → 食品")
and products ("奶粉 → 纸尿裤"). Recommendations come from the product rules, or from the
category rules when no product rule clears the thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from guanxi.analytics import basket, outputs
from guanxi.analytics.churn_model import evaluation_markdown
from guanxi.analytics.purchases import Warehouse, end_of, purchases
from guanxi.analytics.scoring import Computed

RECOMMENDATION_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("rank", pa.int64()),
        ("item", pa.string()),
        ("confidence", pa.float64()),
        ("lift", pa.float64()),
        ("support", pa.float64()),
        ("antecedents", pa.list_(pa.string())),
        ("level", pa.string()),
    ]
)


@dataclass(frozen=True)
class BasketSettings:
    category_support: float = 0.01
    sku_support: float = 0.002
    min_confidence: float = 0.1
    min_lift: float = 1.0
    recommendations: int = 5


def purchase_facts(w: Warehouse, as_of: date) -> ir.Table:
    p = purchases(w, as_of)
    tiers = w.orders.select(order_id="id", tier="tier_code")
    return p.join(tiers, "order_id").select(
        "order_id", "customer_id", "occurred_at", "day", "net", "store", "channel", "tier"
    )


def point_facts(w: Warehouse, as_of: date) -> ir.Table:
    e = w.point_entries.filter(w.point_entries.occurred_at < end_of(as_of))
    e = e.mutate(day=e.occurred_at.date())
    return e.group_by(["day", "kind"]).aggregate(points=e.points.sum(), entries=e.count())


def basket_lines(w: Warehouse, as_of: date) -> ir.Table:
    counted = purchases(w, as_of).select("order_id", "customer_id")
    lines = w.order_lines.filter(w.order_lines.quantity > w.order_lines.refunded_quantity)
    return lines.join(counted, "order_id").select("order_id", "customer_id", "sku", "category")


def _rules(lines: ir.Table, column: str, support: float, settings: BasketSettings) -> pd.DataFrame:
    items = lines.select("order_id", item=lines[column]).filter(ibis._.item.notnull())
    rules = basket.basket_rules(
        items, min_support=support, min_confidence=settings.min_confidence, min_lift=settings.min_lift
    ).execute()
    rules["level"] = column
    return rules


def write(
    w: Warehouse, computed: Computed, folder: Path, as_of: date, settings: BasketSettings | None = None
) -> dict[str, Any]:
    """Write the run's facts and rules; returns what the report says of the basket rules."""
    settings = settings or BasketSettings()
    outputs.write_frame(folder, "purchases", purchase_facts(w, as_of).to_pyarrow())
    outputs.write_frame(folder, "points", point_facts(w, as_of).to_pyarrow())
    scores = computed.scores.copy()
    scores["churn_reasons"] = scores["churn_reasons"].map(lambda r: json.dumps(r or [], ensure_ascii=False))
    outputs.write_frame(folder, "scores", scores.astype({"cluster_name": "string", "rfm_segment": "string"}))

    if computed.churn_model is not None:
        text = evaluation_markdown(computed.churn_model, title=f"Churn model: evaluation as of {as_of.isoformat()}")
        (folder / "churn_evaluation.md").write_text(text, encoding="utf-8")

    lines = basket_lines(w, as_of)
    category = _rules(lines, "category", settings.category_support, settings)
    sku = _rules(lines, "sku", settings.sku_support, settings)
    rules = pd.concat([category, sku], ignore_index=True)
    outputs.write_frame(folder, "basket_rules", rules)

    source, column = (sku, "sku") if len(sku) else (category, "category")
    bought = lines.select("customer_id", item=lines[column]).filter(ibis._.item.notnull()).distinct()
    if len(source):
        con = bought._find_backend()
        memo = con.create_table(f"_rules_{column}", source.drop(columns=["level"]), temp=True, overwrite=True)
        recommended = basket.recommend(memo, bought, k=settings.recommendations).execute()
        recommended["level"] = column
        outputs.write_frame(folder, "recommendations", recommended)
    else:  # no rule: an empty file that still has its columns' types, so readers can filter it
        recommended = pd.DataFrame({"customer_id": []})
        outputs.write_frame(folder, "recommendations", pa.Table.from_pylist([], schema=RECOMMENDATION_SCHEMA))
    return {
        "category_rules": len(category),
        "sku_rules": len(sku),
        "recommended_customers": int(recommended["customer_id"].nunique()),
    }
