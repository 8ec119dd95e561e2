"""The analytics dashboard, the business figures on the home page and the scores on the customer
page: drawn from a run on a small shop, and the words they show before the first run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from guanxi.analytics import presenter as _presenter  # noqa: F401 (the scores' part of a customer's detail)
from guanxi.analytics.runner import run_analytics
from guanxi.auth.models import StaffUser
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.runs import BackgroundRun
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

NOW = datetime(2026, 6, 30, 10, 0, tzinfo=UTC)
AS_OF = date(2026, 6, 30)
TEE = {"sku": "AP-TEE-01", "category": "服装", "quantity": 1, "unit_price": "80.00"}
ROUNDS = 300  # a background run on a tiny shop takes a few seconds on a busy machine
SHOE = {"sku": "SH-RUN-01", "category": "鞋履", "quantity": 1, "unit_price": "40.00"}
NUTS = {"sku": "FD-NUTS-01", "category": "食品", "quantity": 1, "unit_price": "80.00"}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as frozen_clock:
        yield frozen_clock


def _buy(db: Database, customer_id: str, amount: str, days_ago: int, n: int, lines: list[dict[str, object]]) -> None:
    with db.unit_of_work() as session:
        post_order(
            session,
            customer_id=customer_id,
            amount=amount,
            external_id=f"{customer_id}-{n}",
            occurred_at=NOW - timedelta(days=days_ago),
            lines=lines,
        )


def _shop(db: Database) -> dict[str, str]:
    """A regular buying a T-shirt and running shoes together, one gone quiet (nuts), one new with
    a T-shirt only, one who never bought, and one who refused profiling (shoes). Of 11 orders, 8
    hold the T-shirt, 8 the shoes, 7 both: T-shirt -> shoes has confidence 7/8 and lift 1.2."""
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        create_staff(session, username="analyst", role="analyst")
        create_staff(session, username="english", role="admin")
        session.execute(update(StaffUser).where(StaffUser.username == "english").values(language="en"))
        people = {name: create_customer(session, name=name).id for name in ("常客", "沉睡", "新客", "只看", "拒绝")}
        session.execute(update(Customer).where(Customer.id == people["拒绝"]).values(profiling_opt_out=True))
    for n, days in enumerate((200, 150, 100, 60, 30, 10, 2)):
        _buy(db, people["常客"], "120.00", days, n, [TEE, SHOE])
    _buy(db, people["沉睡"], "80.00", 260, 1, [NUTS])
    _buy(db, people["沉睡"], "80.00", 220, 2, [NUTS])
    _buy(db, people["新客"], "80.00", 5, 1, [TEE])
    _buy(db, people["拒绝"], "40.00", 20, 1, [SHOE])
    return people


def _chart(user: User, marker: str) -> ui.echart:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.echart)
    return element


def _text(user: User, marker: str) -> str:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.label)
    return element.text


def _table(user: User, marker: str) -> ui.table:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.table)
    return element


async def test_before_any_run_the_dashboard_says_so_and_offers_a_run_to_who_may(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        create_staff(session, username="analyst", role="analyst")
    await login(console, "admin")
    await console.open("/analytics")
    await settle(console, marker="analytics-no-run")
    await console.should_see("尚无分析结果")
    await console.should_see("立即运行分析")
    await not_shown(console, marker="analytics-run", after_marker="analytics-run-now")  # one button, not two


async def test_an_analyst_sees_no_run_button(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="analyst", role="analyst")
    await login(console, "analyst")
    await console.open("/analytics")
    await not_shown(console, marker="analytics-run-now", after_marker="analytics-no-run")


async def test_before_any_run_home_says_so_and_keeps_the_customer_figures(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        create_customer(session, name="张伟")
    await login(console, "admin")
    await settle(console, marker="analytics-no-run")
    assert _text(console, "home-total") == "1"
    await not_shown(console, marker="home-kpi-revenue", after_marker="analytics-no-run")


async def test_the_dashboard_draws_the_run(db: Database, console: User, frozen: clock.FrozenClock) -> None:
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "admin")
    await console.open("/analytics")
    await settle(console, marker="analytics-report")
    assert _text(console, "analytics-as-of") == "数据截至 2026年6月30日"

    stages = _chart(console, "analytics-funnel-chart").options
    assert stages["yAxis"]["data"] == ["潜在客户", "新客", "活跃", "风险", "沉睡", "流失", "已召回"]
    assert [d["value"] for d in stages["series"][0]["data"]] == [1, 1, 1, 0, 1, 0, 0]

    segments = _chart(console, "analytics-segments-chart").options
    assert "重要价值客户" in segments["yAxis"]["data"]
    rfm = _chart(console, "analytics-rfm-chart").options
    assert sum(cell["value"][2] for cell in rfm["series"][0]["data"]) == 3  # the three buyers scored

    trend = _chart(console, "analytics-kpis-chart").options
    assert trend["xAxis"]["data"][-1] == "2026年6月"  # the run's date ends the month: not "so far"
    revenue = trend["series"][0]["data"]
    # June: two of the regular's orders, the new customer's and the refusal's (sales are counted
    # whoever bought; only the scores leave out who refused profiling)
    assert revenue[-1] == 360.0

    # four buyers fit no lifetime value model: the most valuable are ranked by their spend
    await console.should_see("终身价值未计算，按消费额排序")
    top = _table(console, "analytics-top-table")
    assert [row["link"] for row in top.rows] == ["常客", "沉睡", "新客"]
    assert top.rows[0]["spend"] == "¥840.00"
    assert top.rows[0]["href"] == f"/customers/{people['常客']}"
    assert all(row["link"] != "拒绝" for row in top.rows)  # no scores kept for who refused profiling

    rules = _table(console, "analytics-rules-sku-table")
    bought = {(row["if_bought"], row["also_buys"]) for row in rules.rows}
    assert ("AP-TEE-01（服装）", "SH-RUN-01（鞋履）") in bought

    await console.should_see("流失预测模型：客户太少")
    await console.should_see("客户聚类：客户太少")
    await console.should_see("分群迁移需要两个日期的评分，每天的分析会保留一份。")


async def test_a_chart_downloads_its_figures_as_csv_with_labelled_columns(
    db: Database, console: User, frozen: clock.FrozenClock
) -> None:
    _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "admin")
    await console.open("/analytics")
    await settle(console, marker="analytics-report")
    console.find(marker="analytics-funnel-csv").click()
    response = await console.download.next(timeout=5)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["阶段", "客户数"]
    assert rows[1:4] == [["潜在客户", "1"], ["新客", "1"], ["活跃", "1"]]


async def test_the_dashboard_in_english(db: Database, console: User, frozen: clock.FrozenClock) -> None:
    _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "english")
    await console.open("/analytics")
    await settle(console, marker="analytics-report")
    assert _text(console, "analytics-as-of") == "As of Jun 30, 2026"
    assert "Champions" in _chart(console, "analytics-segments-chart").options["yAxis"]["data"]
    await console.should_see("Churn model: too few customers")


async def test_home_shows_this_month_beside_last_month(db: Database, console: User, frozen: clock.FrozenClock) -> None:
    _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "admin")
    await settle(console, marker="home-kpi-revenue")
    # June: the regular's orders of June 20 and 28, the new customer's and the refusal's
    assert _text(console, "home-kpi-revenue-now") == "¥360.00"
    assert _text(console, "home-kpi-revenue-last") == "¥240.00"  # May 1 and May 31
    assert _text(console, "home-kpi-orders-now") == "4"
    assert _text(console, "home-kpi-buyers-now") == "3"
    assert _text(console, "home-as-of") == "截至 2026年6月30日"
    await console.should_see("较前期 ¥240.00：+50.0%")
    await console.should_see("较前期 ¥0.00：新增")  # nothing was bought in April
    assert _text(console, "home-total") == "5"


async def test_the_customer_page_shows_scores_reasons_and_recommendations(
    db: Database, console: User, frozen: clock.FrozenClock
) -> None:
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "admin")
    await console.open(f"/customers/{people['新客']}")
    await settle(console, marker="score-recommendations")
    assert _text(console, "score-segment") == "有望客户"  # one recent purchase: R 5, F 1
    assert _text(console, "score-stage").startswith("新客（自 ")
    await console.should_see("SH-RUN-01（鞋履）")
    await console.should_see("因为购买过 AP-TEE-01（服装）")

    await console.open(f"/customers/{people['沉睡']}")
    await settle(console, marker="score-as-of")
    assert _text(console, "score-stage").startswith("沉睡")
    assert _text(console, "score-as-of") == "评分日期 2026年6月30日"


async def test_the_customer_page_says_who_refused_profiling_and_who_is_not_scored(
    db: Database, console: User, frozen: clock.FrozenClock
) -> None:
    people = _shop(db)
    await login(console, "admin")
    await console.open(f"/customers/{people['常客']}")
    await settle(console, marker="customer-scores-none")
    await console.should_see("尚未评分")
    run_analytics(db, as_of=AS_OF)
    await console.open(f"/customers/{people['拒绝']}")
    await settle(console, marker="customer-scores-none")
    await console.should_see("客户已拒绝画像，不保留评分。")


async def test_the_run_button_runs_analytics_in_the_background(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        regular = create_customer(session, name="常客").id
    for n in range(3):
        with db.unit_of_work() as session:
            post_order(session, customer_id=regular, amount="80.00", external_id=f"run-{n}", lines=[TEE])
    await login(console, "admin")
    await console.open("/analytics")
    await settle(console, marker="analytics-no-run")
    console.find(marker="analytics-run-now").click()
    await console.should_see(marker="run-dialog")
    await console.should_see("分析已完成", retries=ROUNDS)
    with db.unit_of_work(read_only=True) as session:
        kinds = [(r.kind, r.status) for r in session.scalars(select(BackgroundRun))]
    assert kinds == [("analytics.run", "done")]


async def test_an_analyst_sees_the_top_customers_as_their_role_may(
    db: Database, console: User, frozen: clock.FrozenClock
) -> None:
    _shop(db)
    run_analytics(db, as_of=AS_OF)
    await login(console, "analyst")
    await console.open("/analytics")
    await settle(console, marker="analytics-report")
    top = _table(console, "analytics-top-table")
    assert [row["link"] for row in top.rows] == ["常*", "沉*", "新*"]  # names hidden from analysts
    await not_shown(console, marker="analytics-run", after_marker="analytics-report")
