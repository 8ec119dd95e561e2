"""The console's staff users page (administrators) and the change-password page."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.auth import accounts
from guanxi.auth import service as auth_service
from guanxi.auth.models import AuthToken, StaffUser
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import PASSWORD, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _user(db: Database, username: str) -> StaffUser:
    with db.unit_of_work(read_only=True) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        session.expunge(user)
        return user


def _live_tokens(db: Database, user_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        stmt = select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        return len(list(session.scalars(stmt)))


async def _open_user(console: User, db: Database, username: str) -> None:
    await console.open("/staff")
    await console.should_see(marker="staff-table", retries=30)
    table = console.find(marker="staff-table")
    row = next(r for r in next(iter(table.elements)).rows if r["username"] == username)
    table.trigger("rowClick", [{}, row, 0])
    await console.should_see(marker="staff-save", retries=30)


@pytest.fixture
def wang(db: Database) -> str:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
        user = create_staff(session, username="wang", role="service")
        auth_service.issue_token(session, user, kind="console")
        return user.id


async def test_an_administrator_disables_and_enables_a_user(db: Database, console: User, wang: str) -> None:
    await login(console, "root")
    await _open_user(console, db, "wang")
    console.find(marker="staff-disable").click()
    await console.should_see("账号已停用，所有会话均已结束", retries=30)
    assert (_user(db, "wang").is_active, _live_tokens(db, wang)) == (False, 0)
    await _open_user(console, db, "wang")
    console.find(marker="staff-enable").click()
    await console.should_see("账号已启用", retries=30)
    assert _user(db, "wang").is_active is True


async def test_an_administrator_changes_role_and_region(db: Database, console: User, wang: str) -> None:
    await login(console, "root")
    await _open_user(console, db, "wang")
    console.find(marker="staff-role").elements.pop().value = "manager"
    console.find(marker="staff-region").type("华东")
    console.find(marker="staff-save").click()
    await console.should_see("权限已保存", retries=30)
    user = _user(db, "wang")
    assert (user.role, user.scope, user.region) == ("manager", "region", "华东")


async def test_a_region_is_required_for_a_region_scoped_role(db: Database, console: User, wang: str) -> None:
    await login(console, "root")
    await _open_user(console, db, "wang")
    console.find(marker="staff-role").elements.pop().value = "manager"
    console.find(marker="staff-save").click()
    await console.should_see(marker="staff-save", retries=30)
    region = console.find(marker="staff-region").elements.pop()
    for _ in range(30):
        if region.props.get("error"):
            break
        await console.should_see(marker="staff-save")
    assert region.props.get("error") is True
    assert _user(db, "wang").role == "service"


async def test_a_reset_shows_the_temporary_password_once_and_ends_sessions(
    db: Database, console: User, wang: str
) -> None:
    await login(console, "root")
    await _open_user(console, db, "wang")
    console.find(marker="staff-reset").click()
    await console.should_see(marker="temporary-password", retries=30)
    temporary = console.find(marker="temporary-password").elements.pop().text
    user = _user(db, "wang")
    assert user.must_change_password is True
    assert auth_service.password_hasher().verify(temporary, user.password_hash)
    assert _live_tokens(db, wang) == 0


async def test_analysts_do_not_see_the_page(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
    await login(console, "ana")
    await not_shown(console, marker="nav-staff", after_marker="current-user")
    await console.open("/staff")
    await console.should_see("无权执行此操作", retries=30)


async def test_a_reset_password_signs_in_only_through_the_change_password_page(
    db: Database, console: User, wang: str
) -> None:
    with db.unit_of_work() as session:
        accounts.reset_password(session, SYSTEM, wang, "temporary-123")
    await console.open("/login")
    console.find(marker="username").type("wang")
    console.find(marker="password").type("temporary-123")
    console.find(marker="login").click()
    await not_shown(console, marker="current-user", after="管理员已重置您的密码")
    assert _live_tokens(db, wang) == 0

    console.find(marker="change-password-link").click()
    await console.should_see(marker="change-password", retries=30)
    console.find(marker="username").type("wang")
    console.find(marker="current-password").type("temporary-123")
    console.find(marker="new-password").type("brand-new-456")
    console.find(marker="confirm-password").type("brand-new-456")
    console.find(marker="change-password").click()
    await console.should_see(marker="current-user", retries=30)
    user = _user(db, "wang")
    assert user.must_change_password is False
    assert auth_service.password_hasher().verify("brand-new-456", user.password_hash)
    assert not auth_service.password_hasher().verify(PASSWORD, user.password_hash)


async def test_the_change_password_page_refuses_a_wrong_current_password(
    db: Database, console: User, wang: str
) -> None:
    before = _user(db, "wang").password_hash
    await console.open("/password")
    console.find(marker="username").type("wang")
    console.find(marker="current-password").type("not-the-one")
    console.find(marker="new-password").type("brand-new-456")
    console.find(marker="confirm-password").type("brand-new-456")
    console.find(marker="change-password").click()
    await console.should_see("用户名或密码不正确", retries=30)
    assert _user(db, "wang").password_hash == before
    assert isinstance(console.find(marker="change-password").elements.pop(), ui.button)


async def test_staff_list_is_paged_newest_first_with_its_total(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        for i in range(21):
            create_staff(session, username=f"staff{i:02d}", role="service")
    await login(console, "boss")
    await console.open("/staff")
    await console.should_see(marker="staff-table", retries=30)
    (table,) = console.find(marker="staff-table").elements
    assert isinstance(table, ui.table)
    assert [r["username"] for r in table.rows][:2] == ["staff20", "staff19"]
    assert len(table.rows) == 20
    (total,) = console.find(marker="staff-pager-total").elements
    (page,) = console.find(marker="staff-pager-page").elements
    assert isinstance(total, ui.label) and isinstance(page, ui.label)
    assert (total.text, page.text) == ("共 22 条", "第 1 / 2 页")
    console.find(marker="staff-pager-next").click()
    assert [r["username"] for r in table.rows] == ["staff00", "boss"]
    assert page.text == "第 2 / 2 页"
    console.find(marker="staff-pager-prev").click()
    assert page.text == "第 1 / 2 页"
