"""Simulated-user fixtures for the console (NiceGUI's `user`, no browser).

`console` asks for `db` first, so the pages run against the migrated, emptied test database.
NiceGUI drops the modules of page functions from `sys.modules` after each simulation so that a
main file can re-register them; the pages here are registered by a function call instead, so the
original modules are put back and every other test keeps seeing the same `guanxi` objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from nicegui.testing import User

from guanxi.kit.db import Database
from tests.factories import PASSWORD

MAIN_FILE = "tests/console/main.py"


@pytest.fixture
def _keep_guanxi_modules() -> Iterator[None]:
    saved = {name: module for name, module in sys.modules.items() if name == "guanxi" or name.startswith("guanxi.")}
    yield
    sys.modules.update(saved)


@pytest.fixture
def console(db: Database, _keep_guanxi_modules: None, user: User) -> User:
    return user


async def login(user: User, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login page and wait for the signed-in header."""
    await user.open("/login")
    user.find(marker="username").type(username)
    user.find(marker="password").type(password)
    user.find(marker="login").click()
    await user.should_see(marker="current-user", retries=30)
