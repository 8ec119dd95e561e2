"""A customer's scores and recommendations on their page, for roles that read analytics.

The scores come with the customer's detail (`CustomerDetail.scores`, the last run's, reasons in
the reader's language); the cluster's traits and the recommendations are read from the last run's
files off the event loop. A customer without scores gets a short line: not scored yet, or refused
profiling.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from nicegui import run, ui

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages import analytics_data as data
from guanxi.console.pages import analytics_labels as labels
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, card
from guanxi.customers.schemas import CustomerScoresOut
from guanxi.kit import formatting
from guanxi.kit.principal import Principal

log = logging.getLogger("guanxi.console")
TOP_RECOMMENDATIONS = 5
BAND_COLORS = {"low": "green-1", "medium": "amber-1", "high": "red-1", "unknown": "grey-3"}
BAND_TEXT = {"low": "green-10", "medium": "amber-10", "high": "red-10", "unknown": "grey-9"}


def shown_to(principal: Principal) -> bool:
    return is_allowed(principal, "analytics", "read")


class ScoresSection:
    def __init__(
        self, viewer: Principal, customer_id: str, scores: CustomerScoresOut | None, *, refused: bool = False
    ) -> None:
        self.viewer = viewer
        self.customer_id = customer_id
        self.scores = scores
        self.refused = refused

    def build(self) -> None:
        with card(tr("analytics.scores.title"), marker="customer-scores"):
            if self.scores is None:
                key = "analytics.scores.refused" if self.refused else "analytics.scores.not_scored"
                ui.label(tr(key)).classes("text-sm text-slate-500").mark("customer-scores-none")
                return
            self._scores(self.scores)
            self.extra = ui.column().classes("w-full gap-3")
        ui.timer(0, self.load, once=True)

    def _scores(self, s: CustomerScoresOut) -> None:
        lang = language()
        stage = labels.stage_name(s.lifecycle_stage)
        if s.lifecycle_stage and s.lifecycle_since:
            stage = tr("analytics.scores.stage_since", stage=stage, day=formatting.day(s.lifecycle_since, lang))
        rows = [
            ("segment", labels.segment_name(s.rfm_segment) if s.rfm_segment else EMPTY),
            ("stage", stage),
            ("value_tier", labels.value_tier_name(s.value_tier)),
            ("clv", labels.money(s.clv)),
            ("p_alive", labels.percent(s.p_alive)),
            ("expected", labels.number(s.expected_purchases, 1) if s.expected_purchases is not None else EMPTY),
        ]
        with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 text-sm w-full"):
            for name, value in rows:
                ui.label(tr(f"analytics.scores.{name}")).classes("text-slate-500")
                ui.label(value).mark(f"score-{name}")
        band = s.churn_band or "unknown"
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(tr("analytics.scores.churn")).classes("text-sm text-slate-500")
            ui.badge(labels.band_name(band), color=BAND_COLORS.get(band, "grey-3"), text_color=BAND_TEXT.get(band))
            if s.churn_risk is not None:
                score = formatting.number(round(float(s.churn_risk)), lang)
                ui.label(tr("analytics.scores.risk", score=score)).classes("text-sm").mark("score-risk")
        if s.churn_reasons:
            with ui.column().classes("gap-0 pl-1").mark("score-reasons"):
                for reason in s.churn_reasons:
                    with ui.row().classes("items-start gap-1 no-wrap"):
                        ui.icon("warning_amber", size="16px").classes("text-amber-600 mt-0.5")
                        ui.label(reason.text).classes("text-sm")
        as_of = tr("analytics.scores.as_of", day=formatting.day(s.as_of, lang))
        ui.label(as_of).classes("text-xs text-slate-400").mark("score-as-of")

    async def load(self) -> None:
        try:
            found = await run.io_bound(data.load_customer, self.customer_id)
        except Exception:
            log.exception("customer page: the analytics files could not be read")
            return
        if found is None:  # the app is shutting down
            return
        self.extra.clear()
        with self.extra:
            self._cluster(found)
            self._recommendations(found.recommendations)

    def _cluster(self, found: data.CustomerAnalytics) -> None:
        s = self.scores
        if s is None or s.cluster is None or not s.cluster_name:
            return
        params = found.cluster_params.get(s.cluster)
        name = labels.cluster_label(s.cluster_name, s.cluster, params)
        traits = [labels.trait_text(key, p) for key, p in found.cluster_traits.get(s.cluster, [])]
        with ui.column().classes("w-full gap-1").mark("score-cluster"):
            with ui.row().classes("items-center gap-2"):
                ui.label(tr("analytics.scores.cluster")).classes("text-sm text-slate-500")
                ui.label(name).classes("text-sm font-medium").mark("score-cluster-name")
            if any(traits):
                with ui.row().classes("gap-1"):
                    for trait in traits:
                        if trait:
                            ui.chip(trait, color="blue-1", text_color="blue-10").props("dense square")

    def _recommendations(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        top = frame.sort_values("rank").head(TOP_RECOMMENDATIONS)
        level = str(top["level"].iloc[0]) if "level" in top else "category"
        items = {str(i) for i in top["item"]} | {str(a) for v in top["antecedents"] for a in _listed(v)}
        categories: dict[str, str] = {}
        if level == "sku":
            result = perform(lambda s, p: data.sku_categories(s, sorted(items)), principal=self.viewer, write=False)
            categories = result.value or {}
        with ui.column().classes("w-full gap-1").mark("score-recommendations"):
            ui.label(tr("analytics.scores.recommendations")).classes("text-sm text-slate-500")
            for row in top.to_dict(orient="records"):
                self._recommendation(row, level, categories)

    @staticmethod
    def _recommendation(row: dict[str, Any], level: str, categories: dict[str, str]) -> None:
        def named(item: object) -> str:
            text = str(item)
            if level == "sku" and text in categories:
                return tr("analytics.dash.rules.sku_in", sku=text, category=categories[text])
            return text

        because = tr("analytics.dash.list_separator").join(named(a) for a in _listed(row.get("antecedents")))
        confidence = labels.percent(row.get("confidence"), 0)
        with ui.row().classes("w-full items-baseline gap-2 no-wrap"):
            ui.icon("add_shopping_cart", size="16px").classes("text-primary")
            with ui.column().classes("gap-0 min-w-0"):
                ui.label(named(row.get("item"))).classes("text-sm font-medium")
                ui.label(tr("analytics.scores.because", items=because, confidence=confidence)).classes(
                    "text-xs text-slate-500"
                )


def _listed(value: object) -> list[object]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        return list(value.tolist())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
