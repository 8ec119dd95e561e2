from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from guanxi.auth import service as auth_service
from guanxi.auth.models import AuthToken, StaffUser
from guanxi.config import get_settings
from guanxi.console.session import safe_next
from guanxi.customers.models import CustomerNote
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import PASSWORD, create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def submit_login(console: User, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form of the page that is open."""
    console.find(marker="username").type(username)
    console.find(marker="password").type(password)
    console.find(marker="login").click()


async def test_throttled_account_says_when_to_try_again(
    db: Database, console: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "login_failures_per_account", 1)
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        auth_service.authenticate(session, "wang", "wrong-password", None)
    await console.open("/login")
    submit_login(console, "wang")
    await not_shown(console, marker="current-user", after="登录失败次数过多，请 15 分钟后再试")


async def test_empty_form_asks_for_both_fields(db: Database, console: User) -> None:
    await console.open("/login")
    console.find(marker="login").click()
    await console.should_see("请输入用户名和密码")


async def test_pages_need_a_session_and_return_after_login(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await console.open(f"/customers/{customer.id}")
    await console.should_see(marker="login")
    submit_login(console, "wang")
    await console.should_see(marker="customer-name", retries=30)


async def test_revoked_token_ends_the_session(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    with db.unit_of_work() as session:
        session.execute(update(AuthToken).values(revoked_at=clock.now()))
    await console.open("/customers")
    await not_shown(console, marker="current-user", after_marker="login")


async def test_revocation_also_stops_actions_on_an_open_page(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}?tab=notes")
    with db.unit_of_work() as session:
        session.execute(update(AuthToken).values(revoked_at=clock.now()))
    console.find(marker="note-input").type("不应保存")
    console.find(marker="add-note").click()
    await console.should_see("登录已过期", retries=30)
    await console.should_see(marker="login", retries=30)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(CustomerNote.body)).all() == []


async def test_logout_revokes_the_token(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    console.find(marker="logout").click()
    await console.should_see(marker="login", retries=30)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(AuthToken.revoked_at)).one() is not None
    await console.open("/")
    await console.should_see(marker="login")


async def test_language_switch_is_kept_on_the_staff_record(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.should_see("客户总数")
    (toggle,) = console.find(marker="language").elements
    assert isinstance(toggle, ui.toggle)
    with console:
        toggle.value = "en"  # the simulated user cannot click a toggle's buttons
    await console.should_see("Customers", retries=30)
    await console.should_see("Log out")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(StaffUser.language).where(StaffUser.username == "wang")) == "en"


async def test_search_in_the_address_survives_the_login_redirect(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        create_customer(session, name="张伟")
        create_customer(session, name="李娜")
    await console.open("/customers?q=zw")
    submit_login(console, "wang")
    await console.should_see(marker="customer-table", retries=30)
    (table,) = console.find(marker="customer-table").elements
    assert isinstance(table, ui.table)
    assert [r["name"] for r in table.rows] == ["张伟"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/login?next=/"])
def test_only_local_paths_are_followed_after_login(target: str) -> None:
    assert safe_next(target) == "/"
    assert safe_next("/customers?q=zw") == "/customers?q=zw"


# The session ends on the server: idle timeout and lifetime, with clock travel -----------------

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _tokens(db: Database) -> list[tuple[str, bool]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(select(AuthToken.kind, AuthToken.revoked_at).order_by(AuthToken.created_at)).all()
    return [(kind, revoked_at is not None) for kind, revoked_at in rows]


async def test_an_idle_session_ends_with_a_notice_and_its_token_revoked(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    with clock.frozen(START) as now:
        await login(console, "wang")
        now.advance(timedelta(minutes=29))
        await console.open("/customers")
        await console.should_see(marker="current-user")  # 29 minutes idle: still signed in
        now.advance(timedelta(minutes=30))
        await console.open("/customers")
        await console.should_see("您已超过 30 分钟未操作，已自动退出，请重新登录。", retries=30)
        await not_shown(console, marker="current-user", after_marker="login")
        assert _tokens(db) == [("console", True)]
        await console.open("/login")  # the notice is shown once
        await not_shown(console, marker="session-ended", after_marker="login")


async def test_activity_keeps_a_session_until_its_lifetime(
    db: Database, console: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "console_session_hours", 2)
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    with clock.frozen(START) as now:
        await login(console, "wang")
        for _ in range(5):  # a page every 20 minutes: 100 minutes, never 30 idle
            now.advance(timedelta(minutes=20))
            await console.open("/")
            await console.should_see(marker="current-user")
        assert _tokens(db) == [("console", False)]
        now.advance(timedelta(minutes=20))  # two hours after login
        await console.open("/")
        await console.should_see("登录已满 2 小时，会话已结束，请重新登录。", retries=30)
        await not_shown(console, marker="current-user", after_marker="login")
        assert _tokens(db) == [("console", True)]


async def test_an_action_after_the_idle_timeout_writes_nothing(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    with clock.frozen(START) as now:
        await login(console, "wang")
        await console.open(f"/customers/{customer.id}?tab=notes")
        await console.should_see(marker="note-input")
        now.advance(timedelta(minutes=31))
        console.find(marker="note-input").type("不应保存")
        console.find(marker="add-note").click()
        await console.should_see("登录已过期", retries=30)
        await console.should_see("您已超过 30 分钟未操作，已自动退出，请重新登录。", retries=30)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(CustomerNote.body)).all() == []
    assert _tokens(db) == [("console", True)]


async def test_logout_ends_the_session_and_is_audited(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    console.find(marker="logout").click()
    await console.should_see(marker="login", retries=30)
    assert _tokens(db) == [("console", True)]
    with db.unit_of_work(read_only=True) as session:
        actions = session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
    assert actions[-1] == "auth.logout"
    assert actions.count("auth.logout") == 1
    await console.open("/")
    await not_shown(console, marker="current-user", after_marker="login")
    await not_shown(console, marker="session-ended", after_marker="login")  # signing out is no timeout


async def test_a_next_value_that_would_leave_the_site_lands_on_home(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await console.open("/login?next=/%09/127.0.0.2:8619/phish")
    submit_login(console, "wang")
    await console.should_see("客户总数", retries=30)  # the home page, on this origin
    assert console.back_history[-1] == "/"
