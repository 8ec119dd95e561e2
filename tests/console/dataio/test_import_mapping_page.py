"""The import page's mapping step says everything a mapping can, without JSON: a shop's order-line
export mapped through the console (its own status words, a constant source and currency, an order
number from customer and date, the history choice) runs with exactly that mapping; ignored
columns are listed; a saved mapping loads and saves; a constant its field refuses stops the run
with a readable message and nothing written."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nicegui import ElementFilter, ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers.models import Customer
from guanxi.customers.schemas import IdentityIn
from guanxi.dataio import mappings, service
from guanxi.dataio.models import ImportJob, SavedMapping
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.orders.models import Order
from tests.api.helpers import audit_records
from tests.console.conftest import MAIN_FILE, login, settle
from tests.console.dataio.test_imports_page import _wait_job
from tests.factories import create_customer, create_staff, put_rates

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

SHOP_FILE = (Path(__file__).parents[2] / "fixtures" / "imports" / "shop_order_lines.csv").read_bytes()
CHOSEN = {
    "kind": "orders",
    "columns": {
        "Customer ID": "customer_external_id",
        "Order Date": "occurred_at",
        "Product": "sku",
        "Quantity": "quantity",
        "Unit Price": "unit_price",
        "Total": "paid_amount",
        "Order Status": "status",
    },
    "constants": {"source": "eshop", "currency": "USD"},
    "date_formats": {},
    "recognise": True,
    "values": {"Order Status": {"Shipped - Done": "completed", "Customer Cancelled": "cancelled"}},
    "derive": {"external_id": ["Customer ID", "Order Date"]},
}


def _one(console: User, marker: str) -> Any:
    (element,) = console.find(marker=marker).elements
    return element


def _texts(console: User, marker: str) -> list[str]:
    """The texts of every element with the marker (none is an answer too)."""
    with console:
        return sorted(str(getattr(e, "text", "")) for e in ElementFilter(marker=marker))


def _set(console: User, marker: str, value: Any) -> None:
    _one(console, marker).value = value


def _shop(db: Database) -> dict[str, str]:
    ids = {}
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        for external_id, name in (("C001", "张伟"), ("C002", "李娜"), ("C003", "王芳")):
            ident = IdentityIn(kind="external_id", namespace="eshop", value=external_id)
            ids[external_id] = create_customer(session, name=name, identities=[ident]).id
        put_rates(session, ("USD", "7.10", "2024-01-01", None))
    return ids


async def _upload(console: User, kind: str, name: str, data: bytes) -> None:
    await login(console, "boss")
    await console.open("/imports")
    await console.should_see(marker="import-upload", retries=30)
    _set(console, "import-kind", kind)
    upload = _one(console, "import-upload")
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload(name, "text/csv", data)])
    await settle(console, marker="import-mapping")


def _map_the_shop_file(console: User) -> None:
    _set(console, "map-Product", "sku")
    _set(console, "value-Order_Status-Shipped_-_Done", "completed")
    _set(console, "value-Order_Status-Customer_Cancelled", "cancelled")
    _set(console, "constant-value-0", "eshop")  # offered: the customers are named by the shop's ids
    console.find(marker="constant-add").click()
    _set(console, "constant-field-1", "currency")
    _set(console, "constant-value-1", "USD")
    _set(console, "derive-external_id", ["Customer ID", "Order Date"])
    _set(console, "import-history", "tiers")


async def test_the_shops_export_mapped_in_the_console_runs_with_exactly_that_mapping(
    db: Database, console: User
) -> None:
    shop = _shop(db)
    await _upload(console, "orders", "shop_order_lines.csv", SHOP_FILE)
    # Recognised headers are preselected, "Product" is no header the importer knows: ignored.
    assert {c: _one(console, f"map-{c.replace(' ', '_')}").value for c in CHOSEN["columns"]} == {
        **CHOSEN["columns"],
        "Product": "-",
    }
    assert _one(console, "state-Product").text == "忽略"
    assert _one(console, "import-ignored").text == "忽略的列：Product"
    # The status words of the file's first rows, each with what the importer makes of it by itself.
    assert {
        cell: _one(console, f"value-Order_Status-{cell.replace(' ', '_')}").value
        for cell in ("Shipped - Done", "Customer Cancelled", "Returned", "Delivered")
    } == {"Shipped - Done": "=", "Customer Cancelled": "=", "Returned": "returned", "Delivered": "completed"}
    assert _texts(console, "value-unrecognised") == ["Customer Cancelled", "Shipped - Done"]
    assert _one(console, "constant-field-0").value == "source"

    _map_the_shop_file(console)
    assert _one(console, "import-ignored").text == "没有被忽略的列。"
    assert _texts(console, "value-unrecognised") == []
    assert _one(console, "derive-external_id-example").text == "第一行：C001-2024-03-05"
    _set(console, "mapping-name", "网店订单")
    console.find(marker="mapping-save").click()
    await console.should_see("映射已保存：网店订单", retries=30)
    console.find(marker="import-preview").click()
    await console.should_see(marker="import-preview-table", retries=30)
    table = _one(console, "import-preview-table")
    assert [(r["line"], r["derived.external_id"]) for r in table.rows][:3] == [
        (2, "C001-2024-03-05"),
        (3, "C002-2024-03-06"),
        (4, "C001-2024-03-05"),
    ]

    console.find(marker="import-run").click()
    job = await _wait_job(db)
    assert (job.status, job.rows_read, job.created, job.rejected) == ("done", 7, 5, 2)
    assert job.mapping == CHOSEN
    assert job.options == {"history": "tiers"}
    with db.unit_of_work(read_only=True) as session:
        saved = session.scalar(select(SavedMapping).where(SavedMapping.name == "网店订单"))
        assert saved is not None and saved.mapping == CHOSEN
        orders = {
            o.external_id: (o.customer_id, o.status, o.original_currency, o.paid_amount)
            for o in session.scalars(select(Order))
        }
    assert orders == {
        "C001-2024-03-05": (shop["C001"], "completed", "USD", Decimal("319.36")),
        "C002-2024-03-06": (shop["C002"], "cancelled", "USD", Decimal("8520.00")),
        "C002-2024-04-02": (shop["C002"], "refunded", "USD", Decimal("213.00")),
        "C003-2024-04-10": (shop["C003"], "completed", "USD", Decimal("2130.00")),
    }
    assert job.report is not None and job.report["history"]["choice"] == "tiers"
    assert (job.report["history"]["members"], job.report["history"]["points_awarded"]) == (3, 0)
    await console.should_see("历史订单处理：成长值和等级", retries=50)
    await console.should_see(marker="import-history-figures")


async def _load_saved(db: Database, console: User, name: str, mapping: dict[str, Any]) -> None:
    """The shop's file uploaded and `mapping`, saved as `name`, loaded into the form. Stored as it
    is (a mapping saved before the service checked constants may hold one it now refuses)."""
    _shop(db)
    with db.unit_of_work() as session:
        service.save_mapping(session, SYSTEM, name=name, mapping=mappings.parse_mapping(mapping, "orders"))
    await _upload(console, "orders", "shop_order_lines.csv", SHOP_FILE)
    saved = _one(console, "mapping-saved")
    saved.value = next(iter(saved.options))
    console.find(marker="mapping-load").click()
    await settle(console, marker="mapping-loaded")


async def test_a_saved_mapping_loads_into_the_form(db: Database, console: User) -> None:
    await _load_saved(db, console, "网店订单", {**CHOSEN, "columns": {**CHOSEN["columns"], "Coupon": None}})
    assert _one(console, "mapping-lacking").text == "已保存映射中本文件没有的部分：Coupon"
    assert _one(console, "map-Product").value == "sku"
    assert _one(console, "import-ignored").text == "没有被忽略的列。"
    assert _one(console, "value-Order_Status-Shipped_-_Done").value == "completed"
    assert _one(console, "value-Order_Status-Customer_Cancelled").value == "cancelled"
    assert [
        (_one(console, f"constant-field-{i}").value, _one(console, f"constant-value-{i}").value) for i in (0, 1)
    ] == [
        ("source", "eshop"),
        ("currency", "USD"),
    ]
    assert _one(console, "derive-external_id").value == ["Customer ID", "Order Date"]
    assert _one(console, "mapping-name").value == "网店订单"


async def test_a_constant_its_field_refuses_stops_the_run_and_nothing_is_written(db: Database, console: User) -> None:
    await _load_saved(db, console, "坏映射", {**CHOSEN, "constants": {"source": "eshop", "currency": "XYZ"}})
    value = _one(console, "constant-value-1")
    assert (value.value, value.props["error-message"]) == ("XYZ", "不是 ISO 4217 币种代码（如 CNY、USD）")
    console.find(marker="import-run").click()
    await settle(console, marker="import-mapping-refused")
    assert _texts(console, "import-mapping-problem") == [
        "币种：固定值 XYZ 无法使用：不是 ISO 4217 币种代码（如 CNY、USD）"
    ]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0
        assert session.scalar(select(func.count()).select_from(Order)) == 0
    assert audit_records(db, "import.create") == []


async def test_customer_conflicts_and_bad_values_are_the_jobs(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_customer(session, name="张伟", phone="13800138000", city="上海市")
    file = "姓名,手机号,城市,性别,备注\n王五,13800138000,北京市,M,老客\n李娜,13900139000,杭州,#N/A,\n".encode()
    await _upload(console, "customers", "members.csv", file)
    assert _one(console, "state-备注").text == "忽略"
    assert _one(console, "import-ignored").text == "忽略的列：备注"
    assert _one(console, "value-性别-M").value == "male"
    assert _one(console, "value-性别-#N/A").value == "="
    _set(console, "value-性别-#N/A", "∅")
    assert _one(console, "invalid-gender").value == "drop"  # the importer's default for a descriptive field
    _set(console, "invalid-gender", "reject")
    _set(console, "conflict-all", "file")
    _set(console, "conflict-city", "keep")
    console.find(marker="import-run").click()
    job = await _wait_job(db)
    assert job.mapping == {
        "kind": "customers",
        "columns": {"姓名": "name", "手机号": "phone", "城市": "city", "性别": "gender", "备注": None},
        "constants": {},
        "date_formats": {},
        "recognise": True,
        "values": {"性别": {"#N/A": None}},
        "on_invalid": {"gender": "reject"},
        "conflicts": {"*": "file", "city": "keep"},
    }
    assert job.options == {}
    assert (job.created, job.updated, job.conflicts, job.rejected) == (1, 1, 0, 0)
    with db.unit_of_work(read_only=True) as session:
        people = {c.name: (c.city, c.gender) for c in session.scalars(select(Customer))}
    assert people == {"王五": ("上海市", "male"), "李娜": ("杭州市", "unknown")}


async def test_two_columns_for_one_field_are_named_and_nothing_runs(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await _upload(console, "customers", "members.csv", "姓名,手机号,城市,备注\n王五,13800138000,北京市,老客\n".encode())
    _set(console, "map-备注", "city")
    assert (_one(console, "state-城市").text, _one(console, "state-备注").text) == ("与其他列重复", "与其他列重复")
    console.find(marker="import-run").click()
    await settle(console, marker="import-mapping-refused")
    assert _texts(console, "import-mapping-problem") == ["多列都选择了城市（城市, 备注）：请只保留一列"]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0
    _set(console, "map-备注", "-")
    assert (_one(console, "state-城市").text, _one(console, "state-备注").text) == ("", "忽略")


async def test_an_order_file_without_an_order_number_is_refused_naming_it(db: Database, console: User) -> None:
    _shop(db)
    await _upload(console, "orders", "shop_order_lines.csv", SHOP_FILE)
    assert _texts(console, "import-missing") == ["以下必填字段没有对应的列：订单号"]
    _set(console, "constant-value-0", "eshop")
    console.find(marker="import-run").click()
    await settle(console, marker="import-mapping-refused")
    assert _texts(console, "import-mapping-refused") == ["按此映射无法导入该文件："]
    assert _texts(console, "import-mapping-problem") == ["以下必填字段没有对应的列：订单号"]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert audit_records(db, "import.create") == []
    _set(console, "derive-external_id", ["Customer ID", "Order Date"])
    assert _texts(console, "import-missing") == []
