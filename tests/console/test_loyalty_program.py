"""The program page: settings, tier ladder and earning rules, with validation next to the fields
and nothing written on a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.kit.db import Database
from guanxi.loyalty.program.models import EarningRule, Program, Tier
from guanxi.loyalty.rules.definitions import default_rules
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _one(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element


def _error(user: User, marker: str) -> str | None:
    return _one(user, marker).props.get("error-message")


async def _open(db: Database, user: User, role: str) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mia", role=role, region="华东" if role == "manager" else None)
    await login(user, "mia")
    await user.open("/loyalty/program")


def _set(user: User, marker: str, value: str) -> None:
    user.find(marker=marker).clear().type(value)


async def test_marketing_changes_a_setting(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="program-settings")
    assert _one(console, "setting-adjust_approval_threshold").value == "1000"
    assert _one(console, "setting-point_value").value == "0.01"
    assert _one(console, "setting-reminder_days").value == "30, 7"
    _set(console, "setting-adjust_approval_threshold", "500")
    _set(console, "setting-reminder_days", "14，3")
    console.find(marker="save-settings").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        row = session.scalars(select(Program)).one()
        assert (row.adjust_approval_threshold, row.reminder_days, row.version) == (500, [14, 3], 2)
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "program.update")).one()
        assert sorted(audit.fields or []) == ["adjust_approval_threshold", "reminder_days"]


@pytest.mark.parametrize(
    ("marker", "value", "message"),
    [
        ("setting-pending_days", "400", "不能大于 365"),
        ("setting-point_value", "abc", "应为数字"),
        ("setting-reminder_days", "30, soon", "请填写以逗号分隔的天数，例如 30, 7"),
        ("setting-name", "", "必填"),
    ],
)
async def test_a_bad_setting_is_shown_on_its_field(
    db: Database, console: User, marker: str, value: str, message: str
) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="program-settings")
    before = table_counts(db)
    _set(console, marker, value)
    console.find(marker="save-settings").click()
    await console.should_see("请更正标出的字段")
    assert _error(console, marker) == message
    assert table_counts(db) == before


async def test_the_service_checks_settings_together(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="program-settings")
    before = table_counts(db)
    _set(console, "setting-expiry_months", "1")
    _set(console, "setting-pending_days", "30")
    console.find(marker="save-settings").click()
    await console.should_see("待生效期须明显短于积分有效期")
    assert _error(console, "setting-pending_days") == "待生效期须明显短于积分有效期"
    assert table_counts(db) == before


async def test_tier_ladder_is_validated_then_saved(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="tier-ladder")
    assert _one(console, "tier-1-name").value == "银卡会员"
    assert _one(console, "tier-1-threshold").value == "2000"
    before = table_counts(db)
    _set(console, "tier-2-threshold", "1500")  # gold below silver
    console.find(marker="save-tiers").click()
    await console.should_see("请更正标出的字段")
    assert _error(console, "tier-2-threshold") == "须高于较低等级银卡会员的门槛 2000"
    _set(console, "tier-2-threshold", "9000")
    _set(console, "tier-0-points_multiplier", "0")
    console.find(marker="save-tiers").click()
    assert _error(console, "tier-0-points_multiplier") == "必须大于 0"
    assert table_counts(db) == before
    _set(console, "tier-0-points_multiplier", "1")
    console.find(marker="save-tiers").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        tiers = list(session.scalars(select(Tier).order_by(Tier.rank)))
        assert [(t.code, int(t.threshold)) for t in tiers] == [
            ("basic", 0),
            ("silver", 2000),
            ("gold", 9000),
            ("diamond", 30000),
        ]
        assert tiers[3].benefits["dedicated_advisor"] is True  # kept from the JSON column


def _default(code: str) -> dict[str, Any]:
    """A fresh installation's rule as the program page shows it (no rule row written yet)."""
    return next(r.model_dump(mode="json") for r in default_rules() if r.code == code)


def _rule(db: Database, code: str) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        rule = session.scalars(select(EarningRule).where(EarningRule.code == code)).one()
        return dict(rule.definition)


async def test_rule_parameters_are_shown_labelled(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    (table,) = console.find(marker="rules-table").elements
    base = next(r for r in table.rows if r["code"] == "base_rate")
    assert base["summary"] == "积分数 1 · 每消费金额 ¥1.00 · 取整方式 向下取整"
    assert base["kind"] == "基础积分"


async def test_a_rule_saved_from_the_form_unchanged_keeps_its_parameters(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    before = _default("base_rate")
    console.find(marker="rules-table").trigger("edit", {"code": "base_rate"})
    await console.should_see(marker="rule-valid")
    assert _one(console, "rule-points").value == "1"
    assert _one(console, "rule-per_amount").value == "1"
    assert _one(console, "rule-rounding").value == "floor"
    console.find(marker="save-rule").click()
    await console.should_see("已保存")
    assert _rule(db, "base_rate") == before


async def test_a_form_change_saves_exactly_that_parameter(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    before = _default("base_rate")
    console.find(marker="rules-table").trigger("edit", {"code": "base_rate"})
    await console.should_see(marker="rule-valid")
    _set(console, "rule-per_amount", "2.5")
    with console:
        _one(console, "rule-rounding").value = "half_up"
    console.find(marker="save-rule").click()
    await console.should_see("已保存")
    assert _rule(db, "base_rate") == before | {"per_amount": "2.5", "rounding": "half_up"}
    (table,) = console.find(marker="rules-table").elements
    base = next(r for r in table.rows if r["code"] == "base_rate")
    assert base["summary"] == "积分数 1 · 每消费金额 ¥2.50 · 取整方式 四舍五入"


async def test_a_bad_rule_shows_the_field_error_and_writes_nothing(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    (table,) = console.find(marker="rules-table").elements
    assert [r["code"] for r in table.rows] == ["base_rate", "tier_multiplier"]
    before = table_counts(db)
    console.find(marker="new-rule").click()  # campaign multiplier template
    await console.should_see(marker="rule-valid")
    assert _one(console, "rule-multiplier").value == "3"
    assert _one(console, "rule-weekdays").value == [5]
    _set(console, "rule-code", "friday")
    _set(console, "rule-multiplier", "0")
    await console.should_see(marker="rule-error")
    assert _error(console, "rule-multiplier") == "必须大于 0"
    console.find(marker="save-rule").click()
    assert table_counts(db) == before
    _set(console, "rule-multiplier", "3")
    _set(console, "rule-name", "周五三倍")
    await console.should_see(marker="rule-valid")
    console.find(marker="save-rule").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        rule = session.scalars(select(EarningRule).where(EarningRule.code == "friday")).one()
        assert (rule.kind, rule.definition["name"], rule.definition["multiplier"], rule.definition["weekdays"]) == (
            "campaign_multiplier",
            "周五三倍",
            "3",
            [5],
        )
    assert [r["code"] for r in table.rows] == ["base_rate", "tier_multiplier", "friday"]
    friday = next(r for r in table.rows if r["code"] == "friday")
    assert friday["summary"] == "倍数 ×3 · 星期 星期五"


async def test_streak_bonuses_are_edited_as_rows(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    with console:
        _one(console, "new-rule-kind").value = "action_bonus"
    console.find(marker="new-rule").click()
    await console.should_see(marker="rule-valid")
    assert _one(console, "rule-streak-0-days").value == 7
    assert _one(console, "rule-streak-0-points").value == 20
    console.find(marker="rule-streak-add").click()
    with console:
        _one(console, "rule-streak-1-days").value = 30
        _one(console, "rule-streak-1-points").value = 100
    _set(console, "rule-code", "checkin")
    await console.should_see(marker="rule-valid")
    console.find(marker="save-rule").click()
    await console.should_see("已保存")
    saved = _rule(db, "checkin")
    assert (saved["action"], saved["points"], saved["streak_bonuses"]) == ("checkin", 5, {"7": 20, "30": 100})
    (table,) = console.find(marker="rules-table").elements
    row = next(r for r in table.rows if r["code"] == "checkin")
    assert row["summary"] == "互动行为 签到 · 每次奖励积分 5 · 连续签到奖励 7 天 +20，30 天 +100"


async def test_a_new_rule_cannot_take_an_existing_code(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    before = table_counts(db)
    console.find(marker="new-rule").click()
    _set(console, "rule-code", "base_rate")
    console.find(marker="save-rule").click()
    await console.should_see("代码 base_rate 已被其他规则使用")
    assert table_counts(db) == before


async def test_the_last_base_rate_rule_cannot_be_deleted(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="rules-table")
    before = table_counts(db)
    (table,) = console.find(marker="rules-table").elements
    console.find(marker="rules-table").trigger("delete", table.rows[0])
    console.find(marker="confirm-delete-rule").click()
    await console.should_see("这是唯一启用的基础积分规则，请先添加另一条")
    assert table_counts(db) == before
    assert [r["code"] for r in table.rows] == ["base_rate", "tier_multiplier"]


@pytest.mark.parametrize("role", ["analyst", "service", "auditor"])
async def test_read_only_roles_see_the_program_without_saving(db: Database, console: User, role: str) -> None:
    await _open(db, console, role)
    for marker in ("save-settings", "save-tiers", "add-tier", "new-rule", "save-rule"):
        await not_shown(console, marker=marker, after="您的角色只能查看会员计划，不能修改。")
    element = _one(console, "setting-name")
    assert isinstance(element, ui.input)
    assert not element.enabled


async def test_sales_may_not_open_the_program(db: Database, console: User) -> None:
    await _open(db, console, "sales")
    await not_shown(console, marker="program-settings", after="您的角色无权执行此操作")


async def test_tier_benefits_are_edited_through_labelled_fields(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="tier-ladder")
    assert _one(console, "tier-0-birthday_gift").value == "生日券"
    assert _one(console, "tier-0-birthday_gift_en").value == "Birthday coupon"
    assert _one(console, "tier-1-free_shipping").value is True
    assert _one(console, "tier-0-free_shipping").value is False
    _set(console, "tier-0-birthday_gift", "生日蛋糕券")
    _set(console, "tier-0-birthday_gift_en", "Birthday cake voucher")
    with console:
        _one(console, "tier-0-free_shipping").value = True
        _one(console, "tier-1-free_shipping").value = False
    console.find(marker="save-tiers").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        tiers = list(session.scalars(select(Tier).order_by(Tier.rank)))
        assert tiers[0].benefits == {
            "points_multiplier": "1",
            "discount_pct": "0",
            "birthday_gift": "生日蛋糕券",
            "birthday_gift_en": "Birthday cake voucher",
            "free_shipping": True,
        }
        assert tiers[1].benefits == {
            "points_multiplier": "1.2",
            "discount_pct": "2",
            "birthday_gift": "生日券",
            "birthday_gift_en": "Birthday coupon",
        }


async def test_growth_weights_are_numbers_per_interaction(db: Database, console: User) -> None:
    await _open(db, console, "marketing")
    await console.should_see(marker="program-settings")
    await console.should_see("币种：人民币 · 时区：中国（上海）时间")
    checkin = _one(console, "setting-growth_weights-checkin")
    assert (checkin.label, checkin.value) == ("签到", 1)
    assert _one(console, "setting-growth_weights-review").value == 5
    with console:
        _one(console, "setting-growth_weights-share").value = 3
        _one(console, "setting-growth_weights-referral").value = None
    console.find(marker="save-settings").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        row = session.scalars(select(Program)).one()
        assert row.growth_weights == {"checkin": 1, "review": 5, "share": 3, "profile_completion": 20}
