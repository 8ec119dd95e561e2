from __future__ import annotations

import pytest
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.auth.models import AuthToken, LoginThrottle
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


async def test_wrong_password_shows_message_and_signs_nobody_in(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await console.open("/login")
    console.find(marker="username").type("wang")
    console.find(marker="password").type("not-the-password")
    console.find(marker="login").click()
    await console.should_see("用户名或密码不正确", retries=30)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(AuthToken)) == 0
        # Failures are counted per account, address and both (auth.throttle).
        assert sorted(session.execute(select(LoginThrottle.kind, LoginThrottle.failures)).all()) == [
            ("account", 1),
            ("address", 1),
            ("pair", 1),
        ]
    await console.open("/")
    await not_shown(console, marker="current-user", after_marker="login")


async def test_login_works(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.should_see("wang")
    await console.should_see("客服")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(AuthToken).where(AuthToken.kind == "console")) == 1
