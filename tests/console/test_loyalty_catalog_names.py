"""A reward's and a coupon template's English name in the console: given in the form, kept or
emptied on edit, and shown on English pages (the catalog lists, the customer's coupons and
timeline) while Chinese pages show the name as typed; a name without an English one shows as typed
in either language."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from guanxi.auth.models import StaffUser
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import rewards
from guanxi.loyalty.catalog.models import Reward
from guanxi.loyalty.catalog.schemas import RewardIn
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_staff
from tests.integration.loyalty import coupon_helpers

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

COFFEE = {"code": "COFFEE", "name": "门店咖啡一杯", "name_en": "A cup of coffee", "kind": "service", "points_cost": 600}
TOTE = {"code": "TOTE", "name": "品牌帆布袋", "kind": "goods", "points_cost": 1500}
BIRTHDAY = {"name": "生日礼券 满200减50", "name_en": "Birthday coupon: ¥50 off ¥200"}


def _rows(user: User, marker: str) -> list[dict[str, Any]]:
    (table,) = user.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return table.rows


def _staff(db: Database, username: str, role: str, language: str) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username=username, role=role)
        session.execute(update(StaffUser).where(StaffUser.username == username).values(language=language))


def _catalog(db: Database) -> None:
    with db.unit_of_work() as session:
        for spec in (COFFEE, TOTE):
            rewards.create_reward(session, SYSTEM, RewardIn.model_validate(spec))
    coupon_helpers.template(db, code="BDAY50", **BIRTHDAY)


@pytest.mark.parametrize(
    ("language", "coffee", "birthday"),
    [("en", "A cup of coffee", "Birthday coupon: ¥50 off ¥200"), ("zh-CN", "门店咖啡一杯", "生日礼券 满200减50")],
)
async def test_the_catalog_lists_name_rewards_and_templates_in_the_page_language(
    db: Database, console: User, language: str, coffee: str, birthday: str
) -> None:
    _catalog(db)
    _staff(db, "mia", "marketing", language)
    await login(console, "mia")
    await console.open("/loyalty/catalog")
    await settle(console, marker="templates-table")
    assert [(r["code"], r["name"]) for r in _rows(console, "rewards-table")] == [
        ("COFFEE", coffee),
        ("TOTE", "品牌帆布袋"),
    ]
    assert [(r["code"], r["name"]) for r in _rows(console, "templates-table")] == [("BDAY50", birthday)]


async def test_the_form_takes_an_english_name_and_an_edit_can_empty_it(db: Database, console: User) -> None:
    _staff(db, "mia", "marketing", "zh-CN")
    await login(console, "mia")
    await console.open("/loyalty/catalog")
    await settle(console, marker="rewards-list")
    console.find(marker="new-rewards").click()
    console.find(marker="rewards-code").type("MUG")
    console.find(marker="rewards-name").type("品牌马克杯")
    console.find(marker="rewards-name_en").type("Brand mug")
    console.find(marker="rewards-points_cost").type("800")
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Reward.name_en)).one() == "Brand mug"
    (row,) = _rows(console, "rewards-table")
    assert row["name"] == "品牌马克杯"
    console.find(marker="rewards-table").trigger("edit", row)
    console.find(marker="rewards-name_en").clear()
    console.find(marker="save-rewards").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        reward = session.scalars(select(Reward)).one()
        assert (reward.name, reward.name_en, reward.points_cost) == ("品牌马克杯", "", 800)


@pytest.mark.parametrize(
    ("language", "shown"), [("en", "Birthday coupon: ¥50 off ¥200"), ("zh-CN", "生日礼券 满200减50")]
)
async def test_the_customer_page_names_coupons_in_the_page_language(
    db: Database, console: User, language: str, shown: str
) -> None:
    customer_id = coupon_helpers.customer(db)
    coupon_helpers.issue(db, coupon_helpers.template(db, code="BDAY50", **BIRTHDAY), customer_id)
    _staff(db, "boss", "admin", language)
    await login(console, "boss")
    await console.open(f"/customers/{customer_id}")
    await settle(console, marker="timeline-items")
    (column,) = console.find(marker="timeline-items").elements
    assert shown in [el.text for el in column.descendants() if isinstance(el, ui.label)]
    await console.open(f"/customers/{customer_id}?tab=coupons")
    await settle(console, marker="coupons-table")
    assert [r["name"] for r in _rows(console, "coupons-table")] == [shown]
