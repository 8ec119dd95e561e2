"""Customer exports as reports: titles and values in the reader's language, local times, typed
XLSX cells (text stays text without an apostrophe, numbers are numbers), formulas never run."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import update

from guanxi.customers.models import Customer
from guanxi.dataio import export
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from tests.api.helpers import audit_records, table_counts
from tests.factories import create_customer, post_order, staff_principal

CREATED = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # 2026-03-02 02:00 in Asia/Shanghai
ORDERED = datetime(2026, 3, 1, 17, 5, tzinfo=UTC)  # 2026-03-02 01:05 in Asia/Shanghai
ZH_HEADERS = [
    "会员号", "姓名", "性别", "生日", "手机", "邮箱", "省份", "城市", "大区", "来源渠道", "标签", "创建时间",
    "会员等级", "积分余额", "订单数", "消费金额", "最近下单时间",
    "RFM 分群", "生命周期阶段", "价值分层", "客户终身价值", "存活概率", "流失风险分", "流失风险等级", "客户群",
]  # fmt: skip
EN_HEADERS = [
    "Member no.", "Name", "Gender", "Birthday", "Phone", "Email", "Province", "City", "Region", "Source channel",
    "Tags", "Created at", "Tier", "Points balance", "Orders", "Spend", "Last order at",
    "RFM segment", "Lifecycle stage", "Value tier", "Lifetime value (CLV)", "Probability alive", "Churn risk",
    "Churn risk band", "Cluster",
]  # fmt: skip


def _seed(db: Database) -> dict[str, object]:
    with clock.frozen(CREATED), db.unit_of_work() as session:
        customer = create_customer(
            session,
            name="张伟",
            phone="13800138000",
            gender="female",
            birthday="1990-05-01",
            source_channel="web",
            tags=["vip"],
        )
        eve = create_customer(session, name="Eve", phone="13900139000", gender="male")
        # Names are checked on the way in today; one stored before that (or by an old import) is not.
        session.execute(update(Customer).where(Customer.id == eve.id).values(name="=cmd"))
        answer = post_order(session, customer_id=customer.id, amount="2500.00", external_id="A-1", occurred_at=ORDERED)
        return {"member_no": customer.member_no, "points": answer.points_balance, "tier": answer.tier}


def _export(db: Database, actor: Principal, fmt: str, language: str | None) -> bytes:
    out = io.BytesIO()
    with db.unit_of_work() as session:
        export.export_customers(session, actor, out, fmt=fmt, language=language)
    return out.getvalue()


def _by_name(rows: list[list[object]]) -> dict[object, list[object]]:
    return {row[1]: row for row in rows[1:]}


def test_a_chinese_xlsx_report(db: Database) -> None:
    seeded = _seed(db)
    assert seeded["tier"] == "silver"  # 2,500 of growth passes the 2,000 threshold
    book = load_workbook(io.BytesIO(_export(db, SYSTEM, "xlsx", "zh-CN")))
    sheet = book.worksheets[0]
    assert sheet.title == "客户"
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ZH_HEADERS
    zhang = _by_name(rows)["张伟"]
    assert zhang[:3] == [seeded["member_no"], "张伟", "女"]
    assert zhang[3] == datetime(1990, 5, 1)  # a date cell (openpyxl reads dates back as midnight)
    assert zhang[4:12] == ["+8613800138000", None, None, None, None, "官网", "vip", datetime(2026, 3, 2, 2, 0)]
    assert zhang[12:] == ["银卡会员", seeded["points"], 1, 2500, datetime(2026, 3, 2, 1, 5), *[None] * 8]
    cells = {rows[0][i]: cell for i, cell in enumerate(sheet[2 if rows[1][1] == "张伟" else 3])}
    phone = cells["手机"]
    assert (phone.value, phone.data_type, phone.quotePrefix) == ("+8613800138000", "s", True)
    assert (cells["会员号"].data_type, cells["会员号"].quotePrefix) == ("s", False)
    assert (cells["积分余额"].data_type, cells["积分余额"].number_format) == ("n", "#,##0")
    assert (cells["消费金额"].data_type, cells["消费金额"].number_format) == ("n", "#,##0.00")
    assert (cells["创建时间"].is_date, cells["创建时间"].number_format) == (True, "yyyy-mm-dd hh:mm")
    assert (cells["生日"].is_date, cells["生日"].number_format) == (True, "yyyy-mm-dd")
    assert sheet.freeze_panes == "A2"


def test_a_formula_name_stays_inert_in_xlsx(db: Database) -> None:
    _seed(db)
    data = _export(db, SYSTEM, "xlsx", "en")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    (cell,) = [row[1] for row in sheet.iter_rows(min_row=2) if row[1].value == "=cmd"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == ("=cmd", "s", True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml  # no formula element anywhere


def test_an_english_csv_report(db: Database) -> None:
    seeded = _seed(db)
    data = _export(db, SYSTEM, "csv", "en")
    assert data.startswith(b"\xef\xbb\xbf")
    rows: list[list[object]] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == EN_HEADERS
    zhang = _by_name(rows)["张伟"]
    assert zhang == [
        seeded["member_no"], "张伟", "Female", "May 1, 1990", "'+8613800138000", "", "", "", "", "Web shop",
        "vip", "Mar 2, 2026, 2:00\u202fAM", "Silver", str(seeded["points"]), "1", "2500.00",
        "Mar 2, 2026, 1:05\u202fAM", *[""] * 8,
    ]  # fmt: skip
    formula = _by_name(rows)["'=cmd"]  # CSV has no cell types: the apostrophe is its defence
    assert formula[2] == "Male" and formula[12:] == ["", "", "0", "0.00", "", *[""] * 8]


def test_a_chinese_csv_report_writes_times_the_chinese_way(db: Database) -> None:
    _seed(db)
    rows = list(csv.reader(io.StringIO(_export(db, SYSTEM, "csv", "zh-CN").decode("utf-8-sig"))))
    zhang = _by_name(rows)["张伟"]  # type: ignore[arg-type]
    assert (zhang[2], zhang[3], zhang[11], zhang[16]) == (
        "女",
        "1990年5月1日",
        "2026年3月2日 02:00",
        "2026年3月2日 01:05",
    )


def test_a_report_is_masked_as_the_reader_sees_it_and_audited_with_its_language(db: Database) -> None:
    _seed(db)
    marketing = staff_principal(db, username="mkt", role="marketing")
    rows = list(csv.reader(io.StringIO(_export(db, marketing, "csv", "zh-CN").decode("utf-8-sig"))))
    assert _by_name(rows)["张伟"][4] == "138****8000"  # type: ignore[index]
    (record,) = audit_records(db, "customer.export")
    assert record.actor_name == "mkt"
    member = ["tier", "points_balance", "order_count", "spend", "last_order_at"]
    scores = [
        "rfm_segment",
        "lifecycle_stage",
        "value_tier",
        "clv",
        "p_alive",
        "churn_risk",
        "churn_band",
        "cluster_name",
    ]
    assert sorted(record.fields) == sorted([*export.COLUMNS, *member, *scores])
    assert record.detail == {"filters": [], "format": "csv", "rows": 2, "visibility": "masked", "language": "zh-CN"}


def test_an_unknown_language_is_refused_and_nothing_is_written(db: Database) -> None:
    _seed(db)
    before = table_counts(db)
    with pytest.raises(ValidationFailed) as refused:
        _export(db, SYSTEM, "csv", "fr")
    assert [(e.field, e.code) for e in refused.value.errors] == [("lang", "invalid_language")]
    assert table_counts(db) == before


def test_unmasked_is_refused_for_a_masked_reader(db: Database) -> None:
    from guanxi.kit.errors import PermissionDenied

    _seed(db)
    marketing = staff_principal(db, username="mkt", role="marketing")
    before = table_counts(db)
    out = io.BytesIO()
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        export.export_customers(session, marketing, out, language="en", unmasked=True)
    assert out.getvalue() == b"" and table_counts(db) == before
