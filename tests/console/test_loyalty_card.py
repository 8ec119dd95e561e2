"""The member-card section of the customer page: card figures, statement paging and filter, tier
history, and the adjust and redeem dialogs (one entry or one pending request, never more)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.loyalty.catalog.models import Reward
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import AdjustmentRequest, LoyaltyAccount, PointEntry
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _label(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


def _table(user: User, marker: str) -> ui.table:
    (table,) = user.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return table


def _error(user: User, marker: str) -> str | None:
    (element,) = user.find(marker=marker).elements
    return element.props.get("error-message")


def _counts(db: Database) -> tuple[int, int]:
    with db.unit_of_work(read_only=True) as session:
        entries = session.scalar(select(func.count()).select_from(PointEntry)) or 0
        requests = session.scalar(select(func.count()).select_from(AdjustmentRequest)) or 0
        return int(entries), int(requests)


def _balance(db: Database, customer_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        account = session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)).one()
        assert verify.check(session) == []
        return account.points_balance


def _member_with_orders(db: Database, *, role: str = "service", orders: int = 2, amount: str = "500.00") -> str:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role=role, region="华东" if role == "manager" else None)
        customer = create_customer(session, name="张伟", phone="13800138000", region="华东")
        start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
        for i in range(orders):
            post_order(
                session,
                customer_id=customer.id,
                amount=amount,
                external_id=f"POS-{i + 1:03d}",
                occurred_at=start + timedelta(hours=i),
            )
        return customer.id


async def _open_card(user: User, customer_id: str, username: str = "wang") -> None:
    await login(user, username)
    await user.open(f"/customers/{customer_id}?tab=points")
    await user.should_see(marker="member-card", retries=30)


async def test_card_shows_tier_balance_progress_and_statement(db: Database, console: User) -> None:
    with clock.frozen(datetime(2026, 11, 20, 4, 0, tzinfo=UTC)):
        customer_id = _member_with_orders(db, orders=2, amount="1500.00")
        await _open_card(console, customer_id)
        assert _label(console, "card-tier") == "银卡会员"  # 3,000 growth: over silver's 2,000
        assert _label(console, "card-balance") == "3,000"
        assert _label(console, "card-pending") == "0"
        assert _label(console, "card-growth") == "3,000"
        assert _label(console, "card-next") == "再获得 5,000 升级为金卡会员"
        await console.should_see("价值 ¥30.00")
        rows = _table(console, "statement-table").rows
        assert [(r["kind"], r["points"], r["balance"]) for r in rows] == [
            ("获得", "+1,500", "3,000"),
            ("获得", "+1,500", "1,500"),
        ]
        assert rows[0]["reason"].startswith("消费")
        assert rows[0]["reason_full"] == "消费\n消费积分：消费 ¥1,500.00，每 ¥1.00 积 1 分，共 1,500 积分"
        history = _table(console, "tier-history-table").rows
        assert [(h["kind"], h["change"], h["reason"], h["value"]) for h in history] == [
            ("升级", "普通会员 → 银卡会员", "成长值 3,000，达到银卡会员门槛 2,000", "3,000"),
            ("入会", "— → 普通会员", "入会，初始等级为普通会员", "0"),
        ]
        (benefits,) = console.find(marker="card-benefits").elements
        assert [c.text for c in benefits.descendants() if isinstance(c, ui.chip)] == [
            "积分 ×1.2",
            "优惠 2%",
            "生日礼: 生日券",
            "包邮",
        ]
        await console.should_see(marker="open-adjust")
        await console.should_see(marker="open-redeem")


async def test_statement_pages_by_keyset_and_filters_by_kind(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db, orders=23, amount="10.00")
    await _open_card(console, customer_id)
    table = _table(console, "statement-table")
    assert len(table.rows) == 20
    assert table.rows[0]["balance"] == "230"
    console.find(marker="statement-next").click()
    assert [r["balance"] for r in _table(console, "statement-table").rows] == ["30", "20", "10"]
    await console.should_see("第 2 页")
    console.find(marker="statement-prev").click()
    assert len(_table(console, "statement-table").rows) == 20
    console.find(marker="statement-kind").click()
    console.find("人工调整").click()
    await console.should_see(marker="statement-empty")
    console.find(marker="statement-kind").click()
    console.find("获得").click()
    assert len(_table(console, "statement-table").rows) == 20


async def test_small_adjustment_is_applied_once(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-adjust").click()
    console.find(marker="adjust-points").type("200")
    console.find(marker="adjust-reason").type("补录门店活动积分")
    console.find(marker="adjust-submit").click()
    await console.should_see("已调整 +200 积分，当前余额 1,200。")
    assert _counts(db) == (before[0] + 1, before[1])
    assert _balance(db, customer_id) == 1200
    assert _label(console, "card-balance") == "1,200"
    assert _table(console, "statement-table").rows[0]["points"] == "+200"
    assert _table(console, "statement-table").rows[0]["reason"] == "人工调整 · 补录门店活动积分"
    # a second click on the closed dialog's button replays the same key: still one entry
    console.find(marker="adjust-submit").click()
    assert _counts(db) == (before[0] + 1, before[1])
    assert _balance(db, customer_id) == 1200


async def test_large_adjustment_by_service_waits_for_a_manager(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-adjust").click()
    await console.should_see("超过 1,000 积分的调整需经理审批后生效")
    console.find(marker="adjust-points").type("5000")
    console.find(marker="adjust-reason").type("客诉补偿")
    console.find(marker="adjust-submit").click()
    await console.should_see("调整 +5,000 积分已提交，等待经理审批。")
    await console.should_see(marker="points-result")
    assert _counts(db) == (before[0], before[1] + 1)
    assert _balance(db, customer_id) == 1000
    assert _label(console, "card-balance") == "1,000"


async def test_manager_adjusts_above_the_threshold_directly(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db, role="manager")
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-adjust").click()
    await console.should_see("您的角色可审批调整，提交后立即生效")
    console.find(marker="adjust-points").type("-1000")
    console.find(marker="adjust-reason").type("重复发放冲正")
    console.find(marker="adjust-submit").click()
    await console.should_see("已调整 -1,000 积分，当前余额 0。")
    assert _counts(db) == (before[0] + 1, before[1])
    assert _balance(db, customer_id) == 0


@pytest.mark.parametrize(
    ("points", "reason", "field", "message"),
    [
        ("-5000", "扣减", "adjust-points", "超出可用积分余额（当前可用 1000 积分）"),
        ("0", "原因", "adjust-points", "不能为 0"),
        ("100", "", "adjust-reason", "至少 2 个字符"),
        ("", "原因", "adjust-points", "必填"),
    ],
)
async def test_bad_adjustment_shows_the_field_error_and_writes_nothing(
    db: Database, console: User, points: str, reason: str, field: str, message: str
) -> None:
    customer_id = _member_with_orders(db)
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-adjust").click()
    if points:
        console.find(marker="adjust-points").type(points)
    if reason:
        console.find(marker="adjust-reason").type(reason)
    console.find(marker="adjust-submit").click()
    await console.should_see(message)
    assert _error(console, field) == message
    assert _counts(db) == before
    assert _balance(db, customer_id) == 1000


async def test_redeem_spends_points_once(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-redeem").click()
    console.find(marker="redeem-points").type("300")
    console.find(marker="redeem-note").type("门店兑换")
    console.find(marker="redeem-submit").click()
    await console.should_see("已使用 300 积分（价值 ¥3.00），余额 700。")
    assert _counts(db) == (before[0] + 1, before[1])
    assert _balance(db, customer_id) == 700
    assert _table(console, "statement-table").rows[0]["kind"] == "使用"
    console.find(marker="open-redeem").click()
    console.find(marker="redeem-points").type("701")
    console.find(marker="redeem-submit").click()
    await console.should_see("超出可用积分余额")
    assert _counts(db) == (before[0] + 1, before[1])


async def test_read_only_roles_see_the_card_without_point_actions(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db, role="analyst")
    await _open_card(console, customer_id)
    assert _label(console, "card-balance") == "1,000"
    for marker in ("open-adjust", "open-redeem"):
        await not_shown(console, marker=marker, after_marker="statement-table")


async def test_a_customer_without_orders_is_not_enrolled_yet(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="李娜")
    await _open_card(console, customer.id)
    await console.should_see(marker="card-not-enrolled")
    assert _label(console, "card-tier") == "普通会员"
    assert _label(console, "card-balance") == "0"
    await console.should_see(marker="statement-empty")
    await console.should_see("没有等级变更记录。")
    # The base tier's perks (a birthday gift) are for members only.
    await not_shown(console, marker="card-benefits", after_marker="statement-empty")


async def test_english_labels(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)
    await _open_card(console, customer_id)
    (toggle,) = console.find(marker="language").elements
    assert isinstance(toggle, ui.toggle)
    with console:
        toggle.value = "en"  # the simulated user cannot click a toggle's buttons
    await console.should_see("Member card", retries=30)
    assert _label(console, "card-tier") == "Member"
    await console.should_see("Spendable points")
    assert _table(console, "statement-table").rows[0]["kind"] == "Earned"
    assert _table(console, "statement-table").rows[0]["reason_full"] == (
        "Order\nPurchase points: CN¥500.00 spent, earning 1 per CN¥1.00 = 500 points"
    )
    history = _table(console, "tier-history-table").rows
    assert [h["reason"] for h in history] == ["Enrolled at Member"]


def _reward(db: Database, *, stock: int | None) -> str:
    with db.unit_of_work() as session:
        config = program.ensure(session)
        reward = Reward(program_id=config.id, code="mug", name="保温杯", kind="goods", points_cost=250, stock=stock)
        session.add(reward)
        session.flush()
        return reward.id


def _reward_state(db: Database, reward_id: str) -> tuple[int | None, int]:
    with db.unit_of_work(read_only=True) as session:
        reward = session.get(Reward, reward_id)
        assert reward is not None
        return reward.stock, reward.redeemed_count


async def test_redeem_a_catalog_reward_spends_its_price_and_stock(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)  # 1,000 points
    reward_id = _reward(db, stock=5)
    await _open_card(console, customer_id)
    console.find(marker="open-redeem").click()
    select = _one_select(console, "redeem-reward")
    assert select.options[reward_id] == "保温杯 · 250 积分 · 库存 5"
    with console:
        select.value = reward_id
        _one_number(console, "redeem-quantity").value = 2
    assert _one_number(console, "redeem-points").value == 500
    console.find(marker="redeem-submit").click()
    await console.should_see("已兑换保温杯，使用 500 积分，余额 500。")
    assert _balance(db, customer_id) == 500
    assert _reward_state(db, reward_id) == (3, 2)
    assert _table(console, "statement-table").rows[0]["points"] == "-500"


async def test_a_reward_out_of_stock_changes_nothing(db: Database, console: User) -> None:
    customer_id = _member_with_orders(db)
    reward_id = _reward(db, stock=1)
    await _open_card(console, customer_id)
    before = _counts(db)
    console.find(marker="open-redeem").click()
    with console:
        _one_select(console, "redeem-reward").value = reward_id
        _one_number(console, "redeem-quantity").value = 2
    console.find(marker="redeem-submit").click()
    await console.should_see("库存仅剩 1 件")
    assert _counts(db) == before
    assert _balance(db, customer_id) == 1000
    assert _reward_state(db, reward_id) == (1, 0)


def _one_select(user: User, marker: str) -> ui.select:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.select)
    return element


def _one_number(user: User, marker: str) -> ui.number:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.number)
    return element
