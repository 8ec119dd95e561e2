"""The event types page: properties in words, retention in days, the pager."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


async def test_event_types_show_properties_in_words_with_a_pager(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await login(console, "boss")
    await console.open("/quality/event-types")
    (table,) = console.find(marker="event-types-table").elements
    assert isinstance(table, ui.table)
    rows = {r["code"]: r for r in table.rows}
    assert rows["store_visit"]["label"] == "到店"
    assert "string" not in rows["page_view"]["properties"] and "*" not in rows["page_view"]["properties"]
    assert "（文本" in rows["page_view"]["properties"]
    (total,) = console.find(marker="event-types-pager-total").elements
    (page,) = console.find(marker="event-types-pager-page").elements
    assert isinstance(total, ui.label) and isinstance(page, ui.label)
    assert (total.text, page.text) == (f"共 {len(rows)} 条", "第 1 / 1 页")
