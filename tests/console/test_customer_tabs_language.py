"""Every tab of the customer page speaks only its language.

`test_language` opens each page once, which for the customer page is its overview: the other
tabs are built when opened. This opens each tab (`?tab=<name>`) on the same small demo, as an
administrator (who sees every tab), and judges its texts with the same scan.
"""

from __future__ import annotations

import pytest
from nicegui.testing import User
from sqlalchemy import select

from guanxi.console.pages.customer_detail import TABS
from guanxi.kit.db import Database
from guanxi.kit.i18n import LANGUAGES
from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.orders.models import Order
from tests.console import language_scan, language_world
from tests.console.conftest import MAIN_FILE, login, settle
from tests.console.test_language import page_user, world

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)
__all__ = ["page_user", "world"]  # the fixtures, shared with test_language

# (tab, language) failing when this list was last updated; a fixed one fails as XPASS until removed.
STILL_FAILING: dict[tuple[str, str], str] = {}


def _identifiers(database: Database) -> set[str]:
    """Generated identifiers a tab shows, which are no words: coupon codes as printed and the
    order-id suffixes of the points statement (random letters can look like a Latin word)."""
    with database.unit_of_work(read_only=True) as session:
        codes = {coupon_codes.display(code) for code in session.scalars(select(Coupon.code))}
        orders = {order_id[-8:] for order_id in session.scalars(select(Order.id))}
    return codes | orders


def _case(tab: str, language: str) -> object:
    reason = STILL_FAILING.get((tab, language))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(tab, language, id=f"{tab}-{language}", marks=marks)


@pytest.mark.parametrize(("tab", "language"), [_case(name, lang) for name, _ in TABS for lang in LANGUAGES])
async def test_customer_tab_speaks_only_its_language(
    world: language_world.World, page_user: User, database: Database, tab: str, language: str
) -> None:
    await login(page_user, language_world.ADMINS[language])
    await page_user.open(f"/customers/{world.ids['customer_id']}?tab={tab}")
    await settle(page_user, marker=f"panel-{tab}")
    language_world.refresh_typed(database, world)
    erase = language_scan.DataErasure(world.typed | _identifiers(database))
    texts = language_scan.page_texts(page_user)
    found = language_scan.findings(texts, language, erase, frozenset(world.audit_actions))
    assert not found, f"{tab} ({language}): {len(found)} strings outside the catalogs:\n" + "\n".join(
        f"  {f}" for f in found
    )
