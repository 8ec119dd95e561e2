"""The what-if simulation page: change tier thresholds and multipliers, the growth rate or the
earning rules, replay the last N months of orders under the current program and the scenario
(`loyalty.insights.simulation.simulate`, which writes nothing), and compare points, cost and tiers.

A replay can take minutes, so the form only starts a background run (`simulation.start`) and
follows it (`runs.RunWatcher`); each run has its own page, /loyalty/simulation/{run_id}, to come
back to, and the form lists the latest runs."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.service import require
from guanxi.console.actions import field_message, perform
from guanxi.console.pages.loyalty_common import (
    cash,
    field_errors,
    loyalty_frame,
    num,
    points_change,
    show_failure,
    unavailable_text,
)
from guanxi.console.pages.loyalty_insights import figure, money
from guanxi.console.pages.loyalty_rules import ScenarioRules
from guanxi.console.pages.runs import RunWatcher, started_text, status_text
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, local_time, notice, page_title, set_field_error
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.explain import display_name, rule_name
from guanxi.loyalty.insights import simulation
from guanxi.loyalty.insights.simulation import ScenarioIn, SimulationReport
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.settings import ProgramOut

PATH = "/loyalty/simulation"
RUN_PATH = PATH + "/{run_id}"
RECENT = 10
MONTHS = (3, 6, 12, 24, 36)


def plain(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f") if value not in (None, "") else ""


def tier_names(program: ProgramOut | None) -> dict[str, str]:
    """The program's tier names by code in the session's language (name_en in English, when set)."""
    tiers = program.tiers if program else []
    return {str(t["code"]): display_name(str(t["name"]), str(t.get("name_en") or ""), language()) for t in tiers}


def tier_chart(report: SimulationReport, shown: dict[str, str] | None = None) -> dict[str, Any]:
    """Members per tier at the end of the window, baseline next to scenario; `shown` names the
    tiers by code (else the report's names)."""
    names: dict[int, str] = {}
    for run in (report.baseline, report.scenario):
        for t in run.tiers:
            names.setdefault(t.rank, (shown or {}).get(t.code, t.name))
    ranks = sorted(names)

    def counts(run: simulation.RunFigures) -> list[int]:
        by_rank = {t.rank: t.members for t in run.tiers}
        return [by_rank.get(r, 0) for r in ranks]

    labels = (tr("loyalty.simulation.baseline"), tr("loyalty.simulation.scenario"))
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"data": list(labels), "top": 0},
        "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [names[r] for r in ranks]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": labels[0],
                "type": "bar",
                "data": counts(report.baseline),
                "itemStyle": {"color": "#9fb3c8"},
                "barMaxWidth": 36,
            },
            {
                "name": labels[1],
                "type": "bar",
                "data": counts(report.scenario),
                "itemStyle": {"color": "#f0a24b"},
                "barMaxWidth": 36,
            },
        ],
    }


def signed_money(value: Decimal, currency: str) -> str:
    """+¥12.50 / -¥3.00: a cost difference shows its direction."""
    text = cash(abs(value), currency)
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else text)


# The report's assumptions (`simulation.ASSUMPTIONS`, in English for the API), in the reader's words.
ASSUMPTION_KEYS = tuple(
    f"loyalty.simulation.assumption.{n}"
    for n in ("start_lowest", "no_reviews", "orders_only", "refunds", "caps", "cost")
)


def rule_names(definitions: list[dict[str, Any]]) -> dict[str, str]:
    shown = language()
    return {str(d["code"]): rule_name(d, shown) for d in definitions if isinstance(d, dict) and "code" in d}


class SimulationPage:
    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.principal = principal
        self.program = program
        self.tier_fields: list[tuple[ui.input, ui.input]] = []
        self.tier_names = tier_names(program)

    def build(self) -> None:
        with card(tr("loyalty.simulation.scenario_title"), marker="scenario"):
            ui.label(tr("loyalty.simulation.help")).classes("text-sm text-slate-500")
            with ui.row().classes("w-full gap-4 items-start"):
                self.months = ui.select(
                    {m: tr("loyalty.simulation.months_n", n=m) for m in MONTHS},
                    value=12,
                    label=tr("loyalty.simulation.months"),
                )
                self.months.props("outlined dense").classes("w-40").mark("sim-months")
                current = plain(self.program.settings.get("growth_per_amount"))
                self.growth = ui.input(tr("loyalty.simulation.growth"), value=current).props("outlined dense")
                self.growth.classes("w-56").mark("sim-growth")
            ui.label(tr("loyalty.simulation.tiers")).classes("text-sm font-medium text-slate-600 mt-2")
            for i, tier in enumerate(self.program.tiers):
                with ui.row().classes("w-full items-center gap-2"):
                    ui.label(self.tier_names.get(str(tier["code"]), str(tier["name"]))).classes("w-32")
                    threshold = ui.input(tr("loyalty.tiers.threshold"), value=plain(tier["threshold"]))
                    threshold.props("outlined dense").classes("w-36").mark(f"sim-threshold-{i}")
                    multiplier = ui.input(
                        tr("loyalty.tiers.points_multiplier"),
                        value=plain((tier.get("benefits") or {}).get("points_multiplier", "1")),
                    )
                    multiplier.props("outlined dense").classes("w-36").mark(f"sim-multiplier-{i}")
                    self.tier_fields.append((threshold, multiplier))
            self.rules = ScenarioRules(self.principal, self.program)
            self.rules.build()
            self.errors = ui.column().classes("w-full gap-1").mark("sim-errors")
            with ui.row().classes("w-full justify-end"):
                ui.button(tr("loyalty.simulation.run"), icon="play_arrow", on_click=self.run).props(
                    "unelevated no-caps"
                ).mark("sim-run")
        self.results = ui.column().classes("w-full gap-4").mark("sim-results")

    def scenario(self) -> tuple[dict[str, Any], list[FieldError]]:
        """Only what differs from the program goes into the scenario."""
        body: dict[str, Any] = {"months": self.months.value}
        errors: list[FieldError] = []
        growth = (self.growth.value or "").strip()
        if growth and growth != plain(self.program.settings.get("growth_per_amount")):
            body["growth_per_amount"] = growth
        tiers = []
        changed = False
        for tier, (threshold, multiplier) in zip(self.program.tiers, self.tier_fields, strict=True):
            item = {
                "code": tier["code"],
                "name": tier["name"],
                "threshold": (threshold.value or "").strip() or None,
                "points_multiplier": (multiplier.value or "").strip() or None,
            }
            current = plain((tier.get("benefits") or {}).get("points_multiplier", "1"))
            changed |= item["threshold"] != plain(tier["threshold"]) or (item["points_multiplier"] or "") != current
            tiers.append(item)
        if changed:
            body["tiers"] = tiers
        rules = self.rules.definitions()
        if rules is not None:
            body["rules"] = rules
        return body, errors

    def _field(self, path: str) -> ui.input | None:
        """The input a problem belongs to: the growth rate, or a tier's threshold or multiplier."""
        if path == "growth_per_amount":
            return self.growth
        head, _, name = path.partition(".")
        if head.startswith("tiers[") and head.endswith("]") and head[6:-1].isdigit():
            index = int(head[6:-1])
            if index < len(self.tier_fields) and name in ("threshold", "points_multiplier"):
                return self.tier_fields[index][0 if name == "threshold" else 1]
        return None

    def show(self, errors: list[FieldError]) -> None:
        self.errors.clear()
        for threshold, multiplier in self.tier_fields:
            set_field_error(threshold, None)
            set_field_error(multiplier, None)
        set_field_error(self.growth, None)
        with self.errors:
            for error in errors:
                text = field_message(error.field, error.code, error.message, error.params, key=error.key)
                element = self._field(error.field)
                if element is not None:
                    set_field_error(element, text)
                else:
                    ui.label(text).classes("text-sm text-red-800").mark("sim-error")
            if errors:
                ui.label(tr("form.fix_errors")).classes("text-sm text-red-800").mark("sim-error")

    def run(self) -> None:
        self.errors.clear()
        body, errors = self.scenario()
        if errors:
            self.show(errors)
            return
        try:
            data = ScenarioIn.model_validate(body)
        except ValidationError as exc:
            self.show(field_errors(exc))
            return
        database = get_database()
        result = perform(lambda s, p: simulation.start(s, p, data, database).id, notify=False)
        if result.error is not None:
            show_failure(result.error, self.show)
            return
        assert result.value is not None
        self.results.clear()
        with self.results:
            follow(result.value, self.program)


def follow(run_id: str, program: ProgramOut | None) -> None:
    """The run's progress, then its report; a link to its own page to come back to."""
    ui.link(tr("loyalty.simulation.run_link"), RUN_PATH.format(run_id=run_id)).classes("text-sm").mark("sim-run-link")
    RunWatcher(run_id, simulation.get_run, report_view(program)).build()


def report_view(program: ProgramOut | None) -> Callable[[BackgroundRun], None]:
    """Draws a finished run's report, naming the rules as the program (or the scenario) does."""

    def show(run: BackgroundRun) -> None:
        report = simulation.report_of(run)
        if report is None:
            return
        names = rule_names(run.parameters.get("rules") or [])
        names.update(rule_names([r.definition for r in program.rules] if program else []))
        render_report(report, names, tier_names(program))

    return show


def render_report(
    r: SimulationReport, names: dict[str, str] | None = None, tiers: dict[str, str] | None = None
) -> None:
    """The comparison; `names` gives the earning rules' names by code (else the codes), `tiers`
    the tiers' (else the report's)."""
    c = r.currency
    pct = f" ({formatting.signed(r.points_change_pct, language())}%)" if r.points_change_pct is not None else ""
    with ui.row().classes("w-full gap-4"):
        figure(
            tr("loyalty.simulation.baseline_points"),
            num(r.baseline.points),
            "sim-baseline-points",
            money(r.baseline.value, c),
        )
        figure(
            tr("loyalty.simulation.scenario_points"),
            num(r.scenario.points),
            "sim-scenario-points",
            points_change(r.points_difference) + pct,
        )
        figure(tr("loyalty.simulation.baseline_cost"), money(r.baseline.cost, c), "sim-baseline-cost")
        figure(
            tr("loyalty.simulation.scenario_cost"),
            money(r.scenario.cost, c),
            "sim-scenario-cost",
            signed_money(r.cost_difference, c),
        )
    ui.label(
        tr(
            "loyalty.simulation.window",
            start=local_time(r.window_start),
            end=local_time(r.window_end),
            orders=num(r.orders_replayed),
            members=num(r.members),
            recorded=num(r.recorded_points),
        )
    ).classes("text-sm text-slate-600").mark("sim-window")
    with ui.row().classes("w-full gap-4 items-stretch"):
        with card(tr("loyalty.simulation.tier_distribution"), marker="sim-tiers") as box:
            box.classes("flex-1 min-w-80")
            ui.echart(tier_chart(r, tiers)).classes("w-full h-72").mark("sim-tier-chart")
        with card(tr("loyalty.simulation.by_rule"), marker="sim-rules-table") as box:
            box.classes("flex-1 min-w-80")
            codes = sorted(set(r.baseline.points_by_rule) | set(r.scenario.points_by_rule))
            rows = [
                {
                    "code": code,
                    "rule": (names or {}).get(code, code),
                    "baseline": num(r.baseline.points_by_rule.get(code, 0)),
                    "scenario": num(r.scenario.points_by_rule.get(code, 0)),
                }
                for code in codes
            ]
            columns = [
                {"name": n, "label": tr(f"loyalty.simulation.{n}"), "field": n, "align": "left"}
                for n in ("rule", "baseline", "scenario")
            ]
            ui.table(rows=rows, columns=columns, row_key="code").props("flat dense").classes("w-full").mark(
                "sim-rule-rows"
            )
    if r.top_category_changes:
        with card(tr("loyalty.simulation.categories"), marker="sim-categories"):
            rows = [
                {
                    "category": tr("loyalty.simulation.no_category")
                    if x.category == simulation.NO_CATEGORY
                    else x.category,
                    "baseline": num(x.baseline_points),
                    "scenario": num(x.scenario_points),
                    "difference": points_change(x.difference),
                }
                for x in r.top_category_changes
            ]
            columns = [
                {"name": n, "label": tr(f"loyalty.simulation.{n}"), "field": n, "align": "left"}
                for n in ("category", "baseline", "scenario", "difference")
            ]
            ui.table(rows=rows, columns=columns, row_key="category").props("flat dense").classes("w-full")
    with ui.expansion(tr("loyalty.simulation.assumptions"), icon="info").classes("w-full text-sm"):
        for key in ASSUMPTION_KEYS:
            ui.label(f"· {tr(key)}").classes("text-sm text-slate-600")
        if r.breakage.source == "default":
            note = tr(
                "loyalty.liability.breakage_default_note",
                moved=num(r.breakage.moved_points),
                min=num(r.breakage.min_points),
            )
            ui.label(f"· {note}").classes("text-sm text-slate-600")


def recent_runs(principal: Principal) -> None:
    """The latest simulations, each a link to its page."""
    result = perform(
        lambda s, p: simulation.recent_runs(s, p, limit=RECENT),
        principal=principal,
        write=False,
        notify=False,
    )
    if not result.value:
        return
    with card(tr("loyalty.simulation.recent"), marker="sim-recent"):
        for run in result.value:
            with ui.row().classes("items-center gap-3 text-sm"):
                ui.link(started_text(run), RUN_PATH.format(run_id=run.id)).mark("sim-recent-run")
                ui.label(status_text(run)).classes("text-slate-500")


def load_program(session: Session, actor: Principal) -> ProgramOut:
    require(actor, "liability", "read")  # the simulation's own permission, before its form is shown
    return config.describe(session, actor)


def simulation_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.simulation.title"))

        result = perform(load_program, principal=principal, write=False)
        if result.value is None:
            notice(unavailable_text(result.error))
            return None
        SimulationPage(principal, result.value).build()
        recent_runs(principal)
    return None


def simulation_run_page(request: Request, run_id: str) -> Response | None:
    """One simulation run: its progress while it runs, then its report (or why it failed)."""
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.simulation.run_title"))
        result = perform(lambda s, p: simulation.get_run(s, p, run_id), principal=principal, write=False)
        if result.value is None:
            notice(unavailable_text(result.error))
            return None
        ui.label(started_text(result.value)).classes("text-sm text-slate-600").mark("sim-run-started")
        ui.link(tr("loyalty.simulation.new_run"), PATH).classes("text-sm")
        program = perform(load_program, principal=principal, write=False, notify=False).value
        RunWatcher(run_id, simulation.get_run, report_view(program)).build()
    return None
