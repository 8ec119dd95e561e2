"""`guanxi import KIND FILE --show-mapping` and `--help`: what feeds what, before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guanxi.config import get_settings
from guanxi.kit.db import Database
from tests.api.helpers import table_counts

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "default_language", "en")


def _cli(*args: str) -> tuple[int, str, str]:
    from guanxi.cli.main import app

    result = CliRunner().invoke(app, ["import", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_show_mapping_prints_fields_value_maps_derived_and_constants(db: Database, tmp_path: Path) -> None:
    for name in ("shop_order_lines.csv", "shop_orders.mapping.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    before = table_counts(db)
    code, out, err = _cli(
        "orders",
        str(tmp_path / "shop_order_lines.csv"),
        "--mapping",
        str(tmp_path / "shop_orders.mapping.json"),
        "--show-mapping",
    )
    assert (code, err) == (0, "")
    rows = [line for line in out.splitlines() if "│" in line]
    cells = [[c.strip() for c in row.strip("│").split("│")] for row in rows]
    assert cells == [
        ["Customer ID", "Customer id in the source system (customer_external_id)", ""],
        ["Order Date", "Order time (occurred_at)", ""],
        ["Product", "SKU (sku)", ""],
        ["Quantity", "Quantity (quantity)", ""],
        ["Unit Price", "Unit price (unit_price)", ""],
        ["Total", "Paid amount (paid_amount)", ""],
        ["Order Status", "Order status (status)", "Shipped - Done → completed, Customer Cancelled → cancelled"],
        ["Customer ID + Order Date", "Order number (external_id), derived", ""],
        ['"eshop"', "Order source (source), constant", ""],
        ['"USD"', "Currency (currency), constant", ""],
    ]
    assert out.strip().endswith("The file can be imported as mapped; nothing was written.")
    assert table_counts(db) == before


def test_show_mapping_names_ignored_columns_and_what_is_missing(db: Database, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "shop_order_lines.csv", tmp_path / "lines.csv")
    before = table_counts(db)
    code, out, err = _cli("orders", str(tmp_path / "lines.csv"), "--show-mapping")
    assert code == 2
    assert "Ignored columns: Product" in out
    assert err.strip() == "error: required column(s) missing: external_id"
    assert table_counts(db) == before


def test_help_lists_each_kinds_fields() -> None:
    code, out, _ = _cli("orders", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "Required: external_id, paid_amount, occurred_at." in text
    assert "Naming the customer (at least one): customer_id, customer_external_id, phone" in text
    assert "Derivable from other columns (mapping 'derive'): external_id." in text
