"""Rewards and coupon templates in the console: create and edit with errors by field, take off
the catalog, issue coupons, and per-role actions."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.models import Coupon, CouponTemplate, Reward
from guanxi.loyalty.catalog.schemas import CouponTemplateIn
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _one(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element


def _error(user: User, marker: str) -> str | None:
    return _one(user, marker).props.get("error-message")


def _rows(user: User, marker: str) -> list[dict[str, Any]]:
    table = _one(user, marker)
    assert isinstance(table, ui.table)
    return table.rows


def _choose(user: User, marker: str, label: str) -> None:
    user.find(marker=marker).click()
    user.find(label).click()


async def _open(db: Database, user: User, role: str = "marketing") -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mia", role=role, region="华东" if role == "manager" else None)
    await login(user, "mia")
    await user.open("/loyalty/catalog")
    await user.should_see(marker="templates-list")


def _template(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        data = {"code": "WELCOME20", "name": "新客立减 20 元", "kind": "fixed_amount", "value": "20", "valid_days": 30}
        return coupons.create_template(session, SYSTEM, CouponTemplateIn.model_validate(data | fields)).id


async def test_marketing_creates_a_reward(db: Database, console: User) -> None:
    await _open(db, console)
    console.find(marker="new-rewards").click()
    console.find(marker="rewards-code").type("MUG")
    console.find(marker="rewards-name").type("品牌马克杯")
    console.find(marker="rewards-points_cost").type("800")
    console.find(marker="rewards-stock").type("50")
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    assert [(r["code"], r["kind"], r["price"], r["stock"]) for r in _rows(console, "rewards-table")] == [
        ("MUG", "实物", "800 积分", "50")
    ]
    with db.unit_of_work(read_only=True) as session:
        reward = session.scalars(select(Reward)).one()
        assert (reward.name, reward.points_cost, reward.stock, reward.kind) == ("品牌马克杯", 800, 50, "goods")


async def test_a_cash_offset_without_its_rate_names_the_fields(db: Database, console: User) -> None:
    await _open(db, console)
    before = table_counts(db)
    console.find(marker="new-rewards").click()
    _choose(console, "rewards-kind", "积分抵现")
    await not_shown(console, marker="rewards-points_cost", after_marker="rewards-points_per_unit")
    console.find(marker="rewards-code").type("CASH")
    console.find(marker="rewards-name").type("积分抵现")
    console.find(marker="rewards-points_per_unit").type("100")
    console.find(marker="save-rewards").click()
    await console.should_see(marker="rewards-list")
    assert _error(console, "rewards-unit_value") == "积分抵现须填写此项（如 100 积分抵 1.00 元）"
    assert _error(console, "rewards-points_per_unit") is None
    assert table_counts(db) == before
    console.find(marker="rewards-unit_value").type("1")
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    (row,) = _rows(console, "rewards-table")
    assert row["price"] == "100 积分抵 ¥1.00，最少 0 积分，最多抵订单金额的 100%"


async def test_a_bad_coupon_template_writes_nothing_then_a_good_one_is_saved(db: Database, console: User) -> None:
    await _open(db, console)
    before = table_counts(db)
    console.find(marker="new-templates").click()
    console.find(marker="templates-code").type("FRI10")
    console.find(marker="templates-name").type("周五满减")
    console.find(marker="templates-value").type("0")
    console.find(marker="templates-valid_from").type("2026-13-01")
    console.find(marker="save-templates").click()
    await console.should_see(marker="templates-list")
    assert _error(console, "templates-valid_from") == "格式应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM"
    console.find(marker="templates-valid_from").clear()
    console.find(marker="save-templates").click()
    assert _error(console, "templates-value") == "必须大于 0"
    assert table_counts(db) == before
    console.find(marker="templates-value").clear().type("10")
    console.find(marker="templates-min_spend").clear().type("99")
    console.find(marker="save-templates").click()
    await console.should_see("已保存")
    (row,) = _rows(console, "templates-table")
    assert (row["code"], row["kind"], row["value"], row["min_spend"], row["validity"]) == (
        "FRI10",
        "满减券",
        "¥10.00",
        "¥99.00",
        "发放后 30 天",
    )


async def test_editing_a_template_sends_only_the_change(db: Database, console: User) -> None:
    template_id = _template(db)
    await _open(db, console)
    (row,) = _rows(console, "templates-table")
    console.find(marker="templates-table").trigger("edit", row)
    assert _one(console, "templates-code").enabled is False
    console.find(marker="templates-min_spend").clear().type("199")
    console.find(marker="save-templates").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        template = session.get(CouponTemplate, template_id)
        assert template is not None
        assert (str(template.min_spend), str(template.value), template.valid_days) == ("199.00", "20.00", 30)


async def test_issue_to_a_customer_then_the_limit_is_a_field_error(db: Database, console: User) -> None:
    _template(db)
    with db.unit_of_work() as session:
        customer = create_customer(session, name="张伟")
    await _open(db, console, "service")
    (row,) = _rows(console, "templates-table")
    assert (row["can_issue"], row["can_edit"], row["can_remove"]) == (True, False, False)
    console.find(marker="templates-table").trigger("issue", row)
    console.find(marker="issue-customer_ids").type(customer.id)
    console.find(marker="issue-submit").click()
    await console.should_see("已发放 1 张，跳过 0 位客户。")
    assert _rows(console, "templates-table")[0]["issued"] == "1"
    before = table_counts(db)
    console.find(marker="issue-submit").click()  # same dialog, same key: the first answer again
    assert table_counts(db) == before
    console.find(marker="templates-table").trigger("issue", _rows(console, "templates-table")[0])
    console.find(marker="issue-customer_ids").type(customer.id)
    console.find(marker="issue-submit").click()
    await console.should_see(marker="issue-result")
    assert _error(console, "issue-customer_ids") == "已达每人限额"
    assert table_counts(db) == before
    with db.unit_of_work(read_only=True) as session:
        assert [c.customer_id for c in session.scalars(select(Coupon))] == [customer.id]


async def test_issue_to_a_tag_in_bulk(db: Database, console: User) -> None:
    template_id = _template(db)
    with db.unit_of_work() as session:
        tagged = {create_customer(session, name=name, tags=["VIP"]).id for name in ("张伟", "李娜")}
        create_customer(session, name="王芳")
    await _open(db, console)
    console.find(marker="templates-table").trigger("issue", _rows(console, "templates-table")[0])
    with console:
        _one(console, "issue-audience").value = "tag"
    console.find(marker="issue-tag").type("VIP")
    console.find(marker="issue-submit").click()
    await console.should_see("已发放 2 张，跳过 0 位客户。", retries=50)  # a background run
    with db.unit_of_work(read_only=True) as session:
        issued = session.execute(select(Coupon.customer_id, Coupon.template_id, Coupon.status)).all()
    assert sorted(tuple(row) for row in issued) == sorted((c, template_id, "issued") for c in tagged)


async def test_deactivating_a_reward_keeps_it_listed(db: Database, console: User) -> None:
    await _open(db, console)
    console.find(marker="new-rewards").click()
    console.find(marker="rewards-code").type("MUG")
    console.find(marker="rewards-name").type("品牌马克杯")
    console.find(marker="rewards-points_cost").type("800")
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    console.find(marker="rewards-table").trigger("remove", _rows(console, "rewards-table")[0])
    console.find(marker="confirm-remove-rewards").click()
    assert [(r["active"], r["can_remove"]) for r in _rows(console, "rewards-table")] == [("否", False)]
    with db.unit_of_work(read_only=True) as session:
        reward = session.scalars(select(Reward)).one()  # kept, with its figures, only switched off
        assert (reward.code, reward.name, reward.points_cost, reward.active) == ("MUG", "品牌马克杯", 800, False)
        trail = session.execute(
            select(AuditRecord.action, AuditRecord.fields)
            .where(AuditRecord.entity_id == reward.id)
            .order_by(AuditRecord.seq)
        ).all()
    assert [tuple(row) for row in trail] == [("reward.create", []), ("reward.deactivate", ["active"])]


@pytest.mark.parametrize("role", ["analyst", "auditor"])
async def test_read_only_roles_see_the_catalog_without_actions(db: Database, console: User, role: str) -> None:
    _template(db)
    await _open(db, console, role)
    for marker in ("new-rewards", "new-templates"):
        await not_shown(console, marker=marker, after_marker="templates-table")
    (row,) = _rows(console, "templates-table")
    assert (row["can_issue"], row["can_edit"], row["can_remove"]) == (False, False, False)


async def test_trigger_parameters_and_minimum_tier_are_labelled_fields(db: Database, console: User) -> None:
    await _open(db, console)
    console.find(marker="new-templates").click()
    console.find(marker="templates-code").type("BACK30")
    console.find(marker="templates-name").type("老客唤回券")
    console.find(marker="templates-value").type("30")
    with console:
        _one(console, "templates-trigger").value = "win_back"
    console.find(marker="templates-inactive_days").type("90")
    console.find(marker="save-templates").click()
    await console.should_see("已保存")
    with console:
        _one(console, "templates-trigger").value = "tier_upgrade"
    to_tier = _one(console, "templates-to_tier")
    assert to_tier.options == {"basic": "普通会员", "silver": "银卡会员", "gold": "金卡会员", "diamond": "钻石会员"}
    with db.unit_of_work(read_only=True) as session:
        template = session.scalars(select(CouponTemplate).where(CouponTemplate.code == "BACK30")).one()
        assert (template.trigger, template.trigger_params) == ("win_back", {"inactive_days": 90})
    console.find(marker="new-rewards").click()
    console.find(marker="rewards-code").type("LOUNGE")
    console.find(marker="rewards-name").type("贵宾休息室")
    console.find(marker="rewards-points_cost").type("3000")
    with console:
        _one(console, "rewards-min_tier").value = "gold"
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    (row,) = _rows(console, "rewards-table")
    assert (row["code"], row["min_tier"], row["stock"]) == ("LOUNGE", "金卡会员", "不限")


async def test_lottery_prizes_are_rows_of_labelled_fields(db: Database, console: User) -> None:
    await _open(db, console)
    console.find(marker="new-rewards").click()
    with console:
        _one(console, "rewards-kind").value = "lottery"
    console.find(marker="rewards-code").type("SPIN")
    console.find(marker="rewards-name").type("幸运转盘")
    console.find(marker="rewards-points_cost").type("50")
    console.find(marker="prize-add").click()
    console.find(marker="prize-add").click()
    _one(console, "prize-0-code").value = "P100"
    with console:
        _one(console, "prize-0-name").value = "100 积分"
        _one(console, "prize-0-weight").value = 10
        _one(console, "prize-0-kind").value = "points"
        _one(console, "prize-0-points").value = 100
        _one(console, "prize-1-code").value = "none"
        _one(console, "prize-1-name").value = "谢谢参与"
        _one(console, "prize-1-weight").value = 90
        _one(console, "prize-1-kind").value = "nothing"
    assert _one(console, "prize-0-kind").options["points"] == "积分"
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        reward = session.scalars(select(Reward).where(Reward.code == "SPIN")).one()
        assert [(p["code"], p["kind"], p["weight"], p.get("points")) for p in reward.prizes] == [
            ("P100", "points", 10, 100),
            ("none", "nothing", 90, None),
        ]
