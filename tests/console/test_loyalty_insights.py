"""The liability and simulation pages: figures and charts for the roles that may see them, a
notice for the others, and a simulation that runs in the background (the form returns at once,
the page follows the run and draws its report, the run has a page of its own) and writes nothing
but its run's row."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.insights import simulation
from guanxi.loyalty.program.models import EarningRule
from tests.api.helpers import table_counts
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def runs_in_threads() -> Iterator[None]:
    """Runs start in a thread of their own, as in a console without a queue (a test that wired
    the queue may have left its launcher behind)."""
    runs.set_launcher(None)
    yield
    runs.set_launcher(None)


def _one(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element


def _seed(db: Database, role: str) -> None:
    """Two members: 张伟 with 2,500 points (silver), 李娜 with 1,000 (basic)."""
    with db.unit_of_work() as session:
        create_staff(session, username="mia", role=role, region="华东" if role == "manager" else None)
        zhang = create_customer(session, name="张伟", region="华东")
        li = create_customer(session, name="李娜", region="华东")
        start = NOW - timedelta(days=40)
        post_order(session, customer_id=zhang.id, amount="1500.00", external_id="A-1", occurred_at=start)
        post_order(session, customer_id=zhang.id, amount="1000.00", external_id="A-2", occurred_at=start)
        post_order(session, customer_id=li.id, amount="1000.00", external_id="B-1", occurred_at=start)


@pytest.mark.parametrize("role", ["marketing", "analyst", "manager", "auditor", "admin"])
async def test_liability_figures_and_chart(db: Database, console: User, role: str) -> None:
    with clock.frozen(NOW):
        _seed(db, role)
        await login(console, "mia")
        await console.open("/loyalty/liability")
        await console.should_see(marker="expiry-chart")
        assert _one(console, "liability-points").text == "3,500"
        assert _one(console, "liability-value").text == "¥35.00"
        assert _one(console, "liability-breakage").text == "0.0%"
        assert _one(console, "liability-cost").text == "¥35.00"
        await console.should_see("每积分 ¥0.01")
        await console.should_see("暂按全部兑现估算成本")
        chart = _one(console, "expiry-chart")
        assert isinstance(chart, ui.echart)
        assert chart.options["xAxis"]["data"] == ["2027年10月"]
        assert chart.options["series"][0]["data"] == [3500]
        (table,) = console.find(marker="liability-table").elements
        assert [(r["month"], r["points"], r["value_col"]) for r in table.rows] == [("2027年10月", "3,500", "¥35.00")]
        flows = _one(console, "flow-chart")
        assert flows.options["xAxis"]["data"][-1] == "2026年11月"
        assert flows.options["series"][0]["data"][-2] == 3500  # issued in October
        await console.should_see(marker="tab-simulation")


@pytest.mark.parametrize(("role", "path"), [("service", "/loyalty/liability"), ("sales", "/loyalty/simulation")])
async def test_roles_without_liability_access_get_a_notice(db: Database, console: User, role: str, path: str) -> None:
    _seed(db, role)
    await login(console, "mia")
    await console.open(path)
    for marker in ("expiry-chart", "sim-run", "tab-liability"):
        await not_shown(console, marker=marker, after="您的角色无权执行此操作")


async def test_simulation_compares_a_lower_threshold(db: Database, console: User) -> None:
    with clock.frozen(NOW):
        _seed(db, "analyst")
        await login(console, "mia")
        await console.open("/loyalty/simulation")
        await console.should_see(marker="sim-run")
        assert _one(console, "sim-threshold-1").value == "2000"
        before = table_counts(db)
        console.find(marker="sim-threshold-1").clear().type("800")
        console.find(marker="sim-run").click()
        await console.should_see(marker="sim-tier-chart", retries=50)
        _shows_the_lower_threshold(console)
        await console.should_see("已完成")
        await console.should_see("已处理 3 / 3")
        after = table_counts(db)
        assert after.pop("background_runs") == before.pop("background_runs") + 1
        assert after == before
        (run,) = _runs(db)
        assert (run.status, run.done, run.total, run.actor_name) == ("done", 3, 3, "mia")
        assert run.parameters["tiers"][1]["threshold"] == "800"

        # The run has a page of its own to come back to, and the form lists it.
        link = _one(console, "sim-run-link")
        assert link.props["href"] == f"/loyalty/simulation/{run.id}"
        await console.open(f"/loyalty/simulation/{run.id}")
        await console.should_see(marker="sim-tier-chart", retries=50)
        _shows_the_lower_threshold(console)
        await console.should_see("测算结果")
        await console.open("/loyalty/simulation")
        await console.should_see(marker="sim-recent-run")
        assert _one(console, "sim-recent-run").props["href"] == f"/loyalty/simulation/{run.id}"


def _shows_the_lower_threshold(console: User) -> None:
    assert _one(console, "sim-baseline-points").text == "3,500"
    # Rules by name, figures as the session's language writes them.
    assert [(r["rule"], r["baseline"], r["scenario"]) for r in _one(console, "sim-rule-rows").rows] == [
        ("消费积分", "3,500", "3,500"),
        ("会员等级加倍", "0", "200"),
    ]
    chart = _one(console, "sim-tier-chart")
    assert chart.options["xAxis"]["data"][:2] == ["普通会员", "银卡会员"]
    baseline, scenario = (s["data"] for s in chart.options["series"])
    assert baseline[:2] == [1, 1]
    assert scenario[:2] == [0, 2]


def _runs(db: Database) -> list[BackgroundRun]:
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.query(BackgroundRun).order_by(BackgroundRun.created_at))
        session.expunge_all()
        return rows


async def test_a_failed_simulation_says_so_in_the_readers_words(
    db: Database, console: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(simulation, "simulate", broken)
    _seed(db, "analyst")
    await login(console, "mia")
    await console.open("/loyalty/simulation")
    await console.should_see(marker="sim-run")
    console.find(marker="sim-run").click()
    await console.should_see(marker="run-error", retries=50)
    await console.should_see(t("run.error.unexpected", "zh-CN"))
    await console.should_see("失败")
    await not_shown(console, "internal detail", marker=None, after_marker="run-error")
    (run,) = _runs(db)
    assert (run.status, run.error_code) == ("failed", "unexpected")
    assert any("background run" in r.getMessage() for r in caplog.records)
    caplog.clear()  # logged on purpose; the user fixture fails on leftover ERROR records


async def test_a_run_page_is_refused_to_roles_that_may_not_read_it(db: Database, console: User) -> None:
    _seed(db, "sales")
    with db.unit_of_work() as session:
        run_id = runs.create(session, Principal(id="u-1", name="李娜", role="analyst"), simulation.RUN_KIND, {}).id
    await login(console, "mia")
    await console.open(f"/loyalty/simulation/{run_id}")
    await not_shown(console, marker="run-box", after="您的角色无权执行此操作")


async def test_simulation_with_bad_rules_names_the_field_and_writes_nothing(db: Database, console: User) -> None:
    _seed(db, "marketing")
    await login(console, "mia")
    await console.open("/loyalty/simulation")
    await console.should_see(marker="sim-run")
    before = table_counts(db)
    # A rule is changed through its labelled form; a bad figure is named under its field and the
    # scenario keeps the rule as it was.
    console.find(marker="rules-table").trigger("edit", {"code": "base_rate"})
    await console.should_see(marker="rule-valid")
    console.find(marker="rule-points").clear().type("-1")
    await console.should_see(marker="rule-error")
    assert _one(console, "rule-points").props["error-message"] == "必须大于 0"
    console.find(marker="save-rule").click()
    assert _one(console, "rules-table").rows[0]["summary"] == "积分数 1 · 每消费金额 ¥1.00 · 取整方式 向下取整"
    console.find(marker="rule-cancel").click()
    # A ladder that does not start at 0: said in Chinese under the threshold, and nothing runs.
    console.find(marker="sim-threshold-0").clear().type("10")
    console.find(marker="sim-run").click()
    await console.should_see(marker="sim-error")
    assert _one(console, "sim-threshold-0").props["error-message"] == t("loyalty.ladder.lowest_zero", "zh-CN")
    await not_shown(console, marker="sim-tier-chart", after_marker="sim-error")
    assert table_counts(db) == before


async def test_a_scenario_rule_change_runs_without_touching_the_program(db: Database, console: User) -> None:
    """The tier bonus left out of the scenario: the run replays without it, the program keeps it."""
    _seed(db, "marketing")
    with db.unit_of_work(read_only=True) as session:
        program_rules = list(session.scalars(select(EarningRule.definition).order_by(EarningRule.code)))
    await login(console, "mia")
    await console.open("/loyalty/simulation")
    await console.should_see(marker="sim-run")
    console.find(marker="rules-table").trigger("delete", {"code": "tier_multiplier"})
    console.find(marker="confirm-delete-rule").click()
    await console.should_see("已从本次测算中移除：tier_multiplier")
    assert [r["code"] for r in _one(console, "rules-table").rows] == ["base_rate"]
    console.find(marker="sim-run").click()
    await console.should_see(marker="sim-rule-rows", retries=50)
    (run,) = _runs(db)
    assert [r["code"] for r in run.parameters["rules"]] == ["base_rate"]
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(EarningRule.definition).order_by(EarningRule.code))) == program_rules


async def test_the_console_answers_while_a_simulation_runs(db: Database, console: User) -> None:
    """The run is held at its first progress report: the form has returned, the page shows the
    run as running, other pages open; once released the run's page draws the report."""
    reached, released = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def hold(done: int, total: int | None) -> None:
        reached.set()
        assert released.wait(30)

    def launch(run_id: str) -> None:
        threads.append(threading.Thread(target=runs.run, args=(db, run_id), kwargs={"on_progress": hold}))
        threads[-1].start()

    runs.set_launcher(launch)
    try:
        with clock.frozen(NOW):
            _seed(db, "analyst")
            await login(console, "mia")
            await console.open("/loyalty/simulation")
            await console.should_see(marker="sim-run")
            console.find(marker="sim-threshold-1").clear().type("800")
            console.find(marker="sim-run").click()
            assert await asyncio.to_thread(reached.wait, 30)
            await console.should_see("运行中", retries=50)
            await console.should_see("已处理 0 / 3", retries=50)  # the watcher polls the run
            (run,) = _runs(db)
            assert run.status == "running"
            await console.open("/loyalty/liability")  # the server serves other pages meanwhile
            await console.should_see(marker="expiry-chart")
            await console.open(f"/loyalty/simulation/{run.id}")
            await console.should_see("运行中")
            released.set()
            await console.should_see(marker="sim-tier-chart", retries=50)
            _shows_the_lower_threshold(console)
    finally:
        released.set()
        for thread in threads:
            thread.join(30)
        runs.set_launcher(None)
