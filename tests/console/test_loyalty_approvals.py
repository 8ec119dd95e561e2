"""Approving and rejecting pending points adjustments in the console."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.kit.db import Database
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points
from guanxi.loyalty.program.models import AdjustmentRequest, LoyaltyAccount, PointEntry
from guanxi.loyalty.program.schemas import AdjustIn
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _rows(user: User) -> list[dict[str, Any]]:
    (table,) = user.find(marker="approvals-table").elements
    assert isinstance(table, ui.table)
    return table.rows


def _pending_request(db: Database, *, points_: int = 5000, approver: str = "boss", role: str = "manager") -> str:
    """A customer with 1,000 points, a service agent's request to add `points_`, and an approver."""
    with db.unit_of_work() as session:
        create_staff(session, username=approver, role=role, region="华东" if role == "manager" else None)
        agent = create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", region="华东")
        post_order(session, customer_id=customer.id, amount="1000.00", external_id="POS-1")
        answer = points.adjust(
            session, auth_service.principal_for(agent), customer.id, AdjustIn(points=points_, reason="客诉补偿"), "k-1"
        )
        assert answer.status == "pending_approval"
        return customer.id


def _state(db: Database, customer_id: str) -> tuple[list[str], int, int]:
    with db.unit_of_work(read_only=True) as session:
        statuses = list(session.scalars(select(AdjustmentRequest.status)))
        account = session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)).one()
        entries = int(session.scalar(select(func.count()).select_from(PointEntry)) or 0)
        assert verify.check(session) == []
        return statuses, account.points_balance, entries


async def _decide(user: User, event: str, note: str = "") -> None:
    row = _rows(user)[0]
    assert row["can_decide"] is True
    user.find(marker="approvals-table").trigger(event, row)
    await user.should_see(marker="decision-summary")
    if note:
        user.find(marker="decision-note").type(note)
    user.find(marker="decision-confirm").click()


async def test_manager_approves_and_the_points_move_once(db: Database, console: User) -> None:
    customer_id = _pending_request(db)
    assert _state(db, customer_id) == (["pending"], 1000, 1)
    await login(console, "boss")
    await console.open("/loyalty/approvals")
    rows = _rows(console)
    assert [(r["points"], r["reason"], r["requested_by"], r["status"]) for r in rows] == [
        ("+5,000", "客诉补偿", "wang", "待审批")
    ]
    await _decide(console, "approve", "已核实")
    await console.should_see("已批准，积分已调整。")
    assert _state(db, customer_id) == (["applied"], 6000, 2)
    await console.should_see(marker="approvals-empty")
    with db.unit_of_work(read_only=True) as session:
        request = session.scalars(select(AdjustmentRequest)).one()
        assert request.decision_note == "已核实"
    with console:
        console.find(marker="approval-status").elements.pop().value = "applied"
    assert [r["status"] for r in _rows(console)] == ["已批准"]


async def test_manager_rejects_and_nothing_moves(db: Database, console: User) -> None:
    customer_id = _pending_request(db)
    await login(console, "boss")
    await console.open("/loyalty/approvals")
    await _decide(console, "reject", "证据不足")
    await console.should_see("已驳回。")
    assert _state(db, customer_id) == (["rejected"], 1000, 1)


async def test_the_requester_cannot_decide_their_own_request(db: Database, console: User) -> None:
    customer_id = _pending_request(db)
    with db.unit_of_work() as session:  # wang is promoted while the request waits
        session.scalars(select(StaffUser).where(StaffUser.username == "wang")).one().role = "admin"
    await login(console, "wang")
    await console.open("/loyalty/approvals")
    (row,) = _rows(console)
    assert row["can_decide"] is False
    assert row["why_not"] == "本人申请，需他人审批"
    console.find(marker="approvals-table").trigger("approve", row)  # forced past the hidden buttons
    console.find(marker="decision-confirm").click()
    await console.should_see("不能审批自己提交的申请。")
    assert _state(db, customer_id) == (["pending"], 1000, 1)


async def test_service_sees_requests_without_decision_buttons(db: Database, console: User) -> None:
    _pending_request(db)
    await login(console, "wang")
    await console.open("/loyalty/approvals")
    (row,) = _rows(console)
    assert (row["can_decide"], row["why_not"]) == (False, "")


@pytest.mark.parametrize("role", ["sales", "marketing", "analyst"])
async def test_roles_without_points_access_get_a_notice(db: Database, console: User, role: str) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="someone", role=role)
    await login(console, "someone")
    await console.open("/loyalty/approvals")
    for marker in ("approvals-table", "tab-approvals"):
        await not_shown(console, marker=marker, after="您的角色无权执行此操作")
    with db.unit_of_work(read_only=True) as session:
        denied = session.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied")).one()
        assert denied.detail == {"via": "console", "resource": "points", "action": "read"}
