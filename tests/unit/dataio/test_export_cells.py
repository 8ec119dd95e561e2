"""Export cells: what a report and the data layout hold for a customer, and how a CSV writes
them. Whatever text is stored, no control character reaches a file and no cell runs as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import load_workbook  # type: ignore[import-untyped]

from guanxi.dataio.export_columns import DATA_COLUMNS, Layout
from guanxi.dataio.export_files import CsvText, write_csv, write_xlsx
from guanxi.kit.text import CONTROL

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREATED = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
DATA = Layout(language=None, zone=SHANGHAI)
ZH = Layout(language="zh-CN", zone=SHANGHAI, with_member_figures=True)
EN = Layout(language="en", zone=SHANGHAI, with_member_figures=True)
MEMBER = {
    "tier_code": "gold",
    "tier_name": "金卡",
    "tier_name_en": "Gold",
    "points_balance": -40,
    "order_count": 3,
    "spend": Decimal("1299.50"),
    "last_order_at": datetime(2026, 11, 21, 2, 5, tzinfo=UTC),
}


def _customer(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "01JAAAAAAAAAAAAAAAAAAAAAAA",
        "member_no": "GX0010000001",
        "name": "张伟",
        "gender": "female",
        "birthday": date(1990, 5, 1),
        "province": None,
        "city": "上海",
        "occupation": None,
        "income_band": None,
        "preferred_channel": None,
        "preferred_language": "zh-CN",
        "source_channel": "web",
        "owner_id": None,
        "region": None,
        "phone": "+8613800138000",
        "email": None,
        "address": None,
        "tags": ["vip", "new"],
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    return base | fields  # the shape of `CustomerOut.model_dump()`: a row reads only its columns


def test_report_headers_in_each_language() -> None:
    assert ZH.headers() == [
        "会员号", "姓名", "性别", "生日", "手机", "邮箱", "省份", "城市", "大区", "来源渠道", "标签", "创建时间",
        "会员等级", "积分余额", "订单数", "消费金额", "最近下单时间",
    ]  # fmt: skip
    assert EN.headers() == [
        "Member no.", "Name", "Gender", "Birthday", "Phone", "Email", "Province", "City", "Region",
        "Source channel", "Tags", "Created at", "Tier", "Points balance", "Orders", "Spend", "Last order at",
    ]  # fmt: skip
    assert DATA.headers() == list(DATA_COLUMNS)
    assert Layout(language="en", zone=SHANGHAI).headers()[-1] == "Created at"  # no loyalty data, no figures


def test_a_report_row_holds_display_names_local_times_and_typed_values() -> None:
    row = ZH.row(_customer(), MEMBER)
    assert row == [
        "GX0010000001", "张伟", "女", date(1990, 5, 1), "+8613800138000", None, None, "上海", None, "官网",
        "vip,new", datetime(2026, 11, 21, 0, 30, tzinfo=SHANGHAI),
        "金卡", -40, 3, Decimal("1299.50"), datetime(2026, 11, 21, 10, 5, tzinfo=SHANGHAI),
    ]  # fmt: skip
    english = EN.row(_customer(), MEMBER)
    assert (english[2], english[9], english[12]) == ("Female", "Web shop", "Gold")


def test_a_code_the_catalog_does_not_know_is_shown_as_stored() -> None:
    customer = _customer()
    customer["source_channel"] = "kiosk-7"  # an integration's own channel, stored before it was checked
    assert EN.row(customer)[9] == "kiosk-7"


def test_a_member_without_a_card_has_empty_figures() -> None:
    empty = {
        "tier_code": None, "tier_name": None, "tier_name_en": None, "points_balance": None,
        "order_count": 0, "spend": Decimal("0.00"), "last_order_at": None,
    }  # fmt: skip
    assert ZH.row(_customer(), empty)[12:] == [None, None, 0, Decimal("0.00"), None]


def test_the_data_layout_keeps_codes_and_utc_iso_times() -> None:
    assert DATA.row(_customer()) == [
        "GX0010000001", "张伟", "female", "1990-05-01", "+8613800138000", "", "", "上海", "", "web", "vip,new",
        "2026-11-20T16:30:00+00:00",
    ]  # fmt: skip


def test_csv_text_per_language() -> None:
    zh, en = CsvText("zh-CN"), CsvText("en")
    local = datetime(2026, 11, 21, 0, 30, tzinfo=SHANGHAI)
    assert zh(local) == "2026年11月21日 00:30"
    assert en(local) == "Nov 21, 2026, 12:30\u202fAM"
    assert (zh(date(1990, 5, 1)), en(date(1990, 5, 1))) == ("1990年5月1日", "May 1, 1990")
    assert (zh(Decimal("1299.50")), zh(-40), zh(None)) == ("1299.50", "-40", "")
    assert (zh("+8613800138000"), zh("=cmd")) == ("'+8613800138000", "'=cmd")


def test_control_characters_stored_earlier_are_left_out_of_every_cell() -> None:
    row = ZH.row(_customer(name="张\x01伟", city="上海\x1b", tags=["vip\x00", "new\x7f"]), MEMBER)
    assert (row[1], row[7], row[10]) == ("张伟", "上海", "vip,new")
    assert all(not CONTROL.search(cell) for cell in row if isinstance(cell, str))


def test_an_xlsx_with_such_a_customer_is_written() -> None:
    out = io.BytesIO()
    assert write_xlsx(out, ZH, iter([ZH.row(_customer(name="张\x01伟", tags=["a\x02"]), MEMBER)])) == 1
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "张伟" and rows[1][10] == "a"


def test_formulas_stay_text_after_control_characters_are_removed() -> None:
    # "\x01=cmd" would start with "=" once the control character is gone: it is neutralised after.
    row = ZH.row(_customer(name="\x01=HYPERLINK(1)", city="\x02+1"), MEMBER)
    out = io.BytesIO()
    write_csv(out, ZH, iter([row]))
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert (rows[1][1], rows[1][7]) == ("'=HYPERLINK(1)", "'+1")
    assert rows[1][13] == "-40"  # a negative number is a number, not a formula
