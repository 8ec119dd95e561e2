"""The event types page: types by name, properties by display name, retention in days, the pager,
and the row editor that declares a custom type's properties."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.auth import service as auth_service
from guanxi.console.pages.event_types import PropertyRow, check_header, check_rows
from guanxi.customers import event_types
from guanxi.customers.event_models import EventType
from guanxi.customers.event_schema import BUILTIN, BUILTIN_PROPERTY_NAMES
from guanxi.kit.db import Database
from guanxi.kit.i18n import LANGUAGES, catalog
from guanxi.kit.principal import SYSTEM
from tests.console import language_scan
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _table(console: User) -> ui.table:
    (table,) = console.find(marker="event-types-table").elements
    assert isinstance(table, ui.table)
    return table


def _error(console: User, marker: str) -> str | None:
    (element,) = console.find(marker=marker).elements
    return element.props.get("error-message") if element.props.get("error") else None


def _staff(db: Database, language: str = "zh-CN") -> None:
    with db.unit_of_work() as session:
        user = create_staff(session, username="boss", role="admin")
        auth_service.set_language(session, user.id, language)


def _stored_types(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(EventType)) or 0)


async def _open_new_form(db: Database, console: User, *, language: str = "zh-CN") -> None:
    _staff(db, language)
    await login(console, "boss")
    await console.open("/quality/event-types")
    await settle(console, marker="event-types-table")
    console.find(marker="new-event-type").click()
    await console.should_see(marker="type-code")


def _pick_type(console: User, row: int, display_name: str) -> None:
    with console.scope(marker=f"property-row-{row}"):
        console.find(marker=f"property-type-{row}").click()  # opens the options
        console.find(display_name).click()


def test_every_built_in_property_has_a_display_name_in_both_languages() -> None:
    assert {n for spec in BUILTIN.values() for n in spec.properties} == BUILTIN_PROPERTY_NAMES
    for language in LANGUAGES:
        missing = {n for n in BUILTIN_PROPERTY_NAMES if not catalog(language).get(f"eventtypes.property.{n}")}
        assert missing == set(), language


def test_check_rows_gives_the_schema_and_a_catalog_key_for_each_bad_row() -> None:
    rows = [
        PropertyRow(" room ", "string", True),
        PropertyRow("seconds", "integer", False),
        PropertyRow("", "string", False),
        PropertyRow("Room", "string", False),
        PropertyRow("room", "number", False),
    ]
    props, required, problems = check_rows(rows)
    assert props == {"room": "string", "seconds": "integer"}
    assert required == ["room"]
    assert problems == {
        2: "eventtypes.error.name_missing",
        3: "eventtypes.error.name_format",
        4: "eventtypes.error.name_taken",
    }
    assert check_rows([]) == ({}, [], {})


def test_check_header_names_the_code_and_the_missing_names() -> None:
    assert check_header("live_watch", "看直播", "Live watch", {"page_view"}) == {}
    assert check_header("", "", "Live", ()) == {"code": "error.required", "label_zh": "error.required"}
    assert check_header("Live-Watch", "看直播", "Live watch", ()) == {"code": "eventtypes.error.code_format"}
    assert check_header("page_view", "看", "Look", {"page_view"}) == {"code": "eventtypes.error.code_taken"}


async def test_event_types_show_names_and_properties_in_words_with_a_pager(db: Database, console: User) -> None:
    _staff(db)
    await login(console, "boss")
    await console.open("/quality/event-types")
    table = _table(console)
    assert [c["name"] for c in table.columns] == ["label", "kind", "properties", "retention", "active"]
    rows = {r["id"]: r for r in table.rows}
    assert rows["store_visit"]["label"] == "到店"
    assert rows["page_view"]["properties"] == "链接（文本）、页面标题（文本）、来源页面（文本）"
    assert rows["add_to_cart"]["properties"] == (
        "SKU（文本、必填）、商品名称（文本）、品类（文本）、价格（数字）、数量（整数）"
    )
    (total,) = console.find(marker="event-types-pager-total").elements
    (page,) = console.find(marker="event-types-pager-page").elements
    assert isinstance(total, ui.label) and isinstance(page, ui.label)
    assert (total.text, page.text) == (f"共 {len(rows)} 条", "第 1 / 1 页")


async def test_the_english_page_shows_english_names(db: Database, console: User) -> None:
    _staff(db, "en")
    await login(console, "boss")
    await console.open("/quality/event-types")
    rows = {r["id"]: r for r in _table(console).rows}
    assert rows["campaign_click"]["label"] == "Campaign click"
    assert rows["campaign_click"]["properties"] == "Campaign (text, required), Message ID (text), Link (text)"
    assert rows["review"]["properties"] == "SKU (text), Rating (whole number, required), Review text (text)"


async def test_a_custom_type_is_declared_row_by_row(db: Database, console: User) -> None:
    await _open_new_form(db, console)
    console.find(marker="type-code").type("live_watch")
    console.find(marker="type-label-zh").type("看直播")
    console.find(marker="type-label-en").type("Live watch")
    for _ in range(3):
        console.find(marker="add-property").click()
    console.find(marker="property-name-0").type("room")
    console.find(marker="property-required-0").click()
    console.find(marker="property-name-1").type("dropped")
    console.find(marker="property-name-2").type("seconds")
    _pick_type(console, 2, "整数")
    console.find(marker="remove-property-1").click()
    assert len(console.find(marker="property-name").elements) == 2
    console.find(marker="create-event-type").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        spec = event_types.get_type(session, SYSTEM, "live_watch")
    assert (spec.label_zh, spec.label_en, spec.builtin) == ("看直播", "Live watch", False)
    assert spec.properties == {"room": "string", "seconds": "integer"}
    assert spec.required == ("room",)


async def test_a_type_without_properties_is_saved_empty(db: Database, console: User) -> None:
    await _open_new_form(db, console)
    await console.should_see(marker="no-properties")
    console.find(marker="type-code").type("gift_wrap")
    console.find(marker="type-label-zh").type("礼品包装")
    console.find(marker="type-label-en").type("Gift wrap")
    console.find(marker="create-event-type").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        spec = event_types.get_type(session, SYSTEM, "gift_wrap")
    assert (spec.properties, spec.required) == ({}, ())


async def test_bad_rows_and_names_are_said_next_to_their_inputs_and_nothing_is_saved(
    db: Database, console: User
) -> None:
    await _open_new_form(db, console)
    console.find(marker="type-code").type("page_view")
    console.find(marker="type-label-en").type("Page again")
    for _ in range(3):
        console.find(marker="add-property").click()
    console.find(marker="property-name-0").type("Room")
    console.find(marker="property-name-1").type("seconds")
    console.find(marker="property-name-2").type("seconds")
    console.find(marker="create-event-type").click()
    await console.should_see("已有同名属性")
    assert _error(console, "type-code") == "已有使用此代码的事件类型"
    assert _error(console, "type-label-zh") == "必填"
    assert _error(console, "type-label-en") is None
    assert _error(console, "property-name-0") == "请使用小写字母、数字或下划线，并以字母开头（最多 40 个）"
    assert _error(console, "property-name-1") is None
    assert _error(console, "property-name-2") == "已有同名属性"
    assert _stored_types(db) == 0

    # Corrected, the header and the last row pass; a name emptied is asked for.
    console.find(marker="type-code").clear().type("live_watch")
    console.find(marker="type-label-zh").type("看直播")
    console.find(marker="property-name-0").clear()
    console.find(marker="property-name-2").clear().type("viewers")
    console.find(marker="create-event-type").click()
    await console.should_see("请填写属性名，或删除此属性")
    assert [_error(console, m) for m in ("type-code", "type-label-zh", "property-name-2")] == [None, None, None]
    assert _stored_types(db) == 0


async def test_the_english_form_speaks_english(db: Database, console: User) -> None:
    await _open_new_form(db, console, language="en")
    console.find(marker="add-property").click()
    (kind,) = console.find(marker="property-type-0").elements
    assert isinstance(kind, ui.select) and isinstance(kind.options, dict)
    assert list(kind.options.values()) == ["text", "number", "whole number", "yes/no", "date and time"]
    console.find(marker="type-code").type("9lives")
    console.find(marker="create-event-type").click()
    await console.should_see("Enter a name, or remove this property")
    assert _error(console, "type-code") == "Use 2 to 40 lower-case letters, digits and _, starting with a letter"
    assert _stored_types(db) == 0


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_open_form_speaks_only_its_language(db: Database, console: User, language: str) -> None:
    """The language gate renders the page with its dialogs closed; this looks at the form open,
    with a row and its errors shown."""
    await _open_new_form(db, console, language=language)
    console.find(marker="add-property").click()
    console.find(marker="create-event-type").click()
    await console.should_see(marker="property-name-0")
    assert _error(console, "property-name-0") == catalog(language)["eventtypes.error.name_missing"]
    texts = language_scan.page_texts(console)
    assert {catalog(language)[k] for k in ("eventtypes.property_name", "eventtypes.type.boolean")} <= set(texts)
    found = language_scan.findings(texts, language, language_scan.DataErasure({"boss"}), frozenset())
    assert found == []
