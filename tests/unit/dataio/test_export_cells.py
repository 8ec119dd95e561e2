"""Export cells are safe to write whatever text is stored: no control character reaches a file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook  # type: ignore[import-untyped]

from guanxi.customers.schemas import CustomerOut
from guanxi.dataio import export
from guanxi.kit.text import CONTROL

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _customer(**fields: object) -> CustomerOut:
    base: dict[str, object] = {
        "id": "01JAAAAAAAAAAAAAAAAAAAAAAA",
        "member_no": "gx0010000001",
        "name": "张伟",
        "gender": "male",
        "birthday": None,
        "province": None,
        "city": None,
        "occupation": None,
        "income_band": None,
        "preferred_channel": None,
        "preferred_language": "zh-CN",
        "source_channel": None,
        "owner_id": None,
        "region": None,
        "phone": None,
        "email": None,
        "address": None,
        "tags": [],
        "created_at": NOW,
        "updated_at": NOW,
    }
    return CustomerOut.model_validate(base | fields)


def test_control_characters_stored_earlier_are_left_out_of_every_cell() -> None:
    cells = export._cells(_customer(name="张\x01伟", city="上海\x1b", tags=["vip\x00", "new\x7f"]))
    assert cells[1] == "张伟"
    assert cells[COLUMN_TAGS] == "vip,new"
    assert all(not CONTROL.search(cell) for cell in cells)


COLUMN_TAGS = export.COLUMNS.index("tags")


def test_an_xlsx_with_such_a_customer_is_written() -> None:
    out = io.BytesIO()
    assert export._write_xlsx(out, iter([export._cells(_customer(name="张\x01伟", tags=["a\x02"]))])) == 1
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "张伟" and rows[1][COLUMN_TAGS] == "a"


def test_formulas_stay_text_after_control_characters_are_removed() -> None:
    # "\x01=cmd" would start with "=" once the control character is gone: it is neutralised after.
    cells = export._cells(_customer(name="\x01=HYPERLINK(1)", city="\x02+1"))
    assert cells[1] == "'=HYPERLINK(1)"
    out = io.BytesIO()
    export._write_csv(out, iter([cells]))
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[1][1] == "'=HYPERLINK(1)"
