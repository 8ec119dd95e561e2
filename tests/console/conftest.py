"""Simulated-user fixtures for the console (NiceGUI's `user`, no browser).

`console` asks for `db` first, so the pages run against the migrated, emptied test database.
NiceGUI drops the modules of page functions from `sys.modules` after each simulation so that a
main file can re-register them; the pages here are registered by a function call instead, so the
original modules are put back and every other test keeps seeing the same `guanxi` objects.

A negative check (`not_shown`) is made once, on a settled page: `should_not_see` alone passes as
soon as it looks, so it also passes when it looked before the page or the action had drawn.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
from nicegui import background_tasks
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


# Tasks that live as long as the app or the page (timers, the outbox, binding refresh): never "pending".
_ENDLESS = {"Timer._run_in_loop", "Outbox.loop", "refresh_loop"}
# A bound for a page that never settles (then the test fails saying why), not the basis of a verdict.
_SETTLE_ROUNDS = 200


def _pending_work(user: User) -> list[str]:
    """What the page still has to do: event handlers and one-off timers still running, and
    updates or messages not yet sent to the client."""
    busy = [
        task.get_name()
        for task in background_tasks.running_tasks
        if not task.done() and getattr(task.get_coro(), "__qualname__", "") not in _ENDLESS
    ]
    outbox = user.client.outbox if user.client is not None else None
    if outbox is not None and (outbox.updates or outbox.messages):
        busy.append("outbox updates")
    return busy


async def settle(user: User, text: str | None = None, *, marker: str | None = None) -> None:
    """Wait until the page has settled: `text` or `marker` (the sign that the page or the action
    finished) is shown, no handler of the page is still running, and its outbox is empty."""
    if text is None and marker is None:
        raise TypeError("settle needs the sign that the page or the action finished: a text or a marker")
    await user.should_see(text, marker=marker, retries=_SETTLE_ROUNDS)
    for _ in range(_SETTLE_ROUNDS):
        if not _pending_work(user):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the page did not settle: {_pending_work(user)} still pending")


async def not_shown(
    user: User,
    target: str | None = None,
    *,
    marker: str | None = None,
    after: str | None = None,
    after_marker: str | None = None,
) -> None:
    """Assert that `target` (a text) or `marker` is not on the page, looking once, after the page
    has settled on `after` / `after_marker` (see `settle`)."""
    await settle(user, after, marker=after_marker)
    await user.should_not_see(target, marker=marker, retries=1)
