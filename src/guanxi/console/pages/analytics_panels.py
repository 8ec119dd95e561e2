"""Pieces of the analytics pages that are not charts: the card a chart sits in (with its PNG and
CSV exports), the last run's report in words, and the rows of the tables (top customers, basket
rules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from nicegui import ui

from guanxi.console.pages import analytics_labels as labels
from guanxi.console.pages.analytics_data import csv_bytes
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY
from guanxi.kit import formatting

# The models a run may skip, in the order the report tells them.
MODELS = ("clv", "scorecard", "churn_model", "clusters")
LINK_CELL = r"""
<q-td :props="props">
  <a :href="props.row.href" class="text-primary font-medium no-underline">{{ props.value }}</a>
</q-td>
"""

Export = Callable[[], tuple[Sequence[Mapping[str, object]], Mapping[str, str]]]


def export_button(name: str, export: Export, marker: str) -> ui.button:
    """Download the frame behind a chart or table as CSV, its columns labelled in the reader's
    language."""

    def download() -> None:
        rows, columns = export()
        ui.download.content(csv_bytes(rows, columns), f"{name}.csv", "text/csv")

    button = ui.button(tr("analytics.dash.export.csv"), icon="download", on_click=download)
    return button.props("flat dense no-caps size=sm").mark(f"{marker}-csv")


def chart_card(
    title: str,
    marker: str,
    options: dict[str, Any] | None,
    export: Export | None,
    *,
    height: str = "h-72",
    empty: str | None = None,
    classes: str = "flex-1 min-w-80",
) -> ui.card:
    """A card with its title, the CSV button and the chart (or a line saying why there is none)."""
    with ui.card().classes(f"{classes} gap-2").mark(marker) as box:
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(title).classes("text-base font-medium text-slate-700")
            ui.space()
            if export is not None and options is not None:
                export_button(marker, export, marker)
        if options is None:
            ui.label(empty or tr("analytics.dash.no_data")).classes("text-sm text-slate-500").mark(f"{marker}-empty")
        else:
            ui.echart(options).classes(f"w-full {height}").mark(f"{marker}-chart")
    return box


def table(columns: Sequence[tuple[str, str, str]], rows: list[dict[str, Any]], marker: str) -> ui.table:
    """A dense table; `columns` are (name, label, align); a column named "link" links to `href`."""
    element = ui.table(
        columns=[{"name": n, "label": label, "field": n, "align": align} for n, label, align in columns],
        rows=rows,
        row_key="key",
    )
    element.props(f'flat bordered dense no-data-label="{tr("analytics.dash.no_data")}"').classes("w-full")
    element.add_slot("body-cell-link", LINK_CELL)
    return element.mark(marker)


# -- the run's report ----------------------------------------------------------------------------


def _n(value: object) -> str:
    return formatting.number(int(value), language()) if isinstance(value, (int, float)) else EMPTY


def _joined(names: Sequence[str]) -> str:
    return tr("analytics.dash.list_separator").join(names)


def report_lines(report: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """What the run computed and what it skipped (with why), as sentences."""
    computed: dict[str, Any] = dict(report.get("computed") or {})
    skipped: dict[str, Any] = dict(report.get("skipped") or {})
    done: list[str] = []
    if computed.get("customers") is not None:
        done.append(
            tr("analytics.dash.report.rfm", customers=_n(computed.get("customers")), buyers=_n(computed.get("buyers")))
        )
    if computed.get("profiling_opt_out"):
        done.append(tr("analytics.dash.report.opt_out", customers=_n(computed["profiling_opt_out"])))
    if "clv" in computed and "clv" not in skipped:
        done.append(tr("analytics.dash.report.clv"))
    card = computed.get("scorecard")
    unused: list[str] = []
    if isinstance(card, dict) and "scorecard" not in skipped:
        used = [_named(f"churn.indicator.{code}") for code in card.get("indicators_used") or []]
        done.append(tr("analytics.dash.report.scorecard", indicators=_joined(used) or EMPTY))
        unused = [_named(f"churn.indicator.{item.get('code')}") for item in card.get("indicators_skipped") or []]
    model = computed.get("churn_model")
    if isinstance(model, dict) and model.get("auc") is not None and "churn_model" not in skipped:
        done.append(
            tr("analytics.dash.report.churn_model", auc=formatting.number(float(model["auc"]), language(), decimals=2))
        )
    groups = computed.get("clusters")
    if isinstance(groups, dict) and "clusters" not in skipped:
        names = [labels.cluster_label(key) for key in (groups.get("sizes") or {})]
        done.append(tr("analytics.dash.report.clusters", k=_n(groups.get("k")), names=_joined(names) or EMPTY))
    basket = computed.get("basket")
    if isinstance(basket, dict):
        done.append(
            tr(
                "analytics.dash.report.basket",
                category=_n(basket.get("category_rules", 0)),
                sku=_n(basket.get("sku_rules", 0)),
                customers=_n(basket.get("recommended_customers", 0)),
            )
        )
    written = report.get("written")
    if isinstance(written, dict):
        done.append(
            tr(
                "analytics.dash.report.written",
                written=_n(written.get("written", 0)),
                removed=_n(written.get("removed", 0)),
                changes=_n(written.get("stage_changes", 0)),
            )
        )
    left_out = []
    if isinstance(card, dict) and "scorecard" not in skipped and unused:
        left_out.append(tr("analytics.dash.report.indicators_unused", indicators=_joined(unused)))
    for name in (*MODELS, *(k for k in skipped if k not in MODELS)):
        if name not in skipped:
            continue
        code = str((skipped[name] or {}).get("code") or "other")
        reason = _named(f"analytics.dash.skip.{code}", tr("analytics.dash.skip.other"))
        left_out.append(
            tr("analytics.dash.report.skipped", model=_named(f"analytics.dash.model.{name}"), reason=reason)
        )
    return done, left_out


def _named(key: str, fallback: str = EMPTY) -> str:
    text = tr(key)
    return fallback if text == key else text


def report_section(report: Mapping[str, Any]) -> None:
    done, left_out = report_lines(report)
    with ui.card().classes("w-full gap-2").mark("analytics-report"):
        ui.label(tr("analytics.dash.report.title")).classes("text-base font-medium text-slate-700")
        ui.label(tr("analytics.dash.report.computed")).classes("text-sm font-medium text-slate-600")
        with ui.column().classes("gap-1"):
            for line in done:
                with ui.row().classes("items-start gap-2 no-wrap"):
                    ui.icon("check_circle", size="18px").classes("text-emerald-600 mt-0.5")
                    ui.label(line).classes("text-sm")
        ui.label(tr("analytics.dash.report.left_out")).classes("text-sm font-medium text-slate-600")
        with ui.column().classes("gap-1").mark("analytics-report-skipped"):
            if not left_out:
                ui.label(tr("analytics.dash.report.nothing_skipped")).classes("text-sm text-slate-500")
            for line in left_out:
                with ui.row().classes("items-start gap-2 no-wrap"):
                    ui.icon("remove_circle_outline", size="18px").classes("text-amber-600 mt-0.5")
                    ui.label(line).classes("text-sm")


# -- tables ---------------------------------------------------------------------------------------


def top_columns() -> list[tuple[str, str, str]]:
    names = ("rank", "link", "member_no", "segment", "stage", "tier", "spend", "clv", "p_alive", "band")
    right = {"rank", "spend", "clv", "p_alive"}
    return [(n, tr(f"analytics.dash.top.{n}"), "right" if n in right else "left") for n in names]


def top_rows(top: pd.DataFrame, names: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """The most valuable customers the caller may see, by CLV; named as the role sees them."""
    rows: list[dict[str, Any]] = []
    for record in top.to_dict(orient="records"):
        customer_id = str(record["customer_id"])
        if customer_id not in names:
            continue  # out of the caller's scope
        name, member_no = names[customer_id]
        rows.append(
            {
                "key": customer_id,
                "href": f"/customers/{customer_id}",
                "rank": formatting.number(len(rows) + 1, language()),
                "link": name,
                "member_no": member_no,
                "segment": labels.segment_name(record.get("rfm_segment")),
                "stage": labels.stage_name(record.get("lifecycle_stage")),
                "tier": labels.value_tier_name(record.get("value_tier")),
                "spend": labels.money(record.get("monetary")),
                "clv": labels.money(record.get("clv")),
                "p_alive": labels.percent(record.get("p_alive")),
                "band": labels.band_name(record.get("churn_band")),
            }
        )
    return rows


def item_name(item: str, level: str, categories: Mapping[str, str]) -> str:
    """A category as it is; a product by its SKU with its category beside it."""
    if level == "sku" and item in categories:
        return tr("analytics.dash.rules.sku_in", sku=item, category=categories[item])
    return item


def _items(value: object, level: str, categories: Mapping[str, str]) -> str:
    listed = value.tolist() if hasattr(value, "tolist") else value
    items = list(listed) if isinstance(listed, (list, tuple)) else [listed]
    return " + ".join(item_name(str(i), level, categories) for i in items)


def rule_columns() -> list[tuple[str, str, str]]:
    names = ("if_bought", "also_buys", "support", "confidence", "lift", "baskets")
    return [(n, tr(f"analytics.dash.rules.{n}"), "left" if n in ("if_bought", "also_buys") else "right") for n in names]


def rule_rows(rules: pd.DataFrame, level: str, categories: Mapping[str, str]) -> list[dict[str, Any]]:
    lang = language()
    return [
        {
            "key": str(i),
            "if_bought": _items(rule["antecedents"], level, categories),
            "also_buys": _items(rule["consequents"], level, categories),
            "support": labels.percent(rule["support"], 2),
            "confidence": labels.percent(rule["confidence"]),
            "lift": formatting.number(float(rule["lift"]), lang, decimals=2),
            "baskets": formatting.number(int(rule["basket_count"]), lang),
        }
        for i, rule in enumerate(rules.to_dict(orient="records"))
    ]
