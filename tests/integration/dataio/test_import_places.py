"""Importing customers codes their places: a file's 上海, 上海市 and Shanghai are one city, found by
a segment on any of them; unknown places are kept as typed; a re-run changes nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import segments
from tests.factories import create_customer

from .support import data_counts, run_import, write_csv

FILE = (
    "姓名,手机号,省份,城市,地址\n"
    "张伟,13800138001,,上海,\n"
    "李娜,13800138002,上海,上海,\n"
    "王芳,13800138003,,Shanghai,\n"
    "赵强,13800138004,上海市,上海市,\n"
    "钱七,13800138005,,,上海市徐汇区虹漕路461号\n"
    "孙八,13800138006,广东,广州,\n"
    "周九,13800138007,,Paris,\n"
    "吴十,13800138008,,,\n"
)
PLACE = (
    Customer.province,
    Customer.province_code,
    Customer.city,
    Customer.city_code,
    Customer.district,
    Customer.district_code,
)


def _places(db: Database) -> dict[str, tuple[str | None, ...]]:
    with db.unit_of_work(read_only=True) as session:
        return {row[0]: tuple(row[1:]) for row in session.execute(select(Customer.name, *PLACE))}


def _count(db: Database, field: str, value: str) -> int:
    rule = {"rules": [{"field": field, "op": "eq", "value": value}]}
    with db.unit_of_work(read_only=True) as session:
        return segments.preview(session, SYSTEM, rule, sample=0).count


def test_imported_places_are_coded_and_a_segment_counts_them_all(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", FILE)
    job = run_import(db, "customers", path)
    assert (job.created, job.rejected) == (8, 0)
    shanghai = ("上海市", "310000", "上海市", "310100", None, None)
    assert _places(db) == {
        "张伟": shanghai,
        "李娜": shanghai,
        "王芳": shanghai,
        "赵强": shanghai,
        "钱七": ("上海市", "310000", "上海市", "310100", "徐汇区", "310104"),
        "孙八": ("广东省", "440000", "广州市", "440100", None, None),
        "周九": (None, None, "Paris", None, None, None),
        "吴十": (None, None, None, None, None, None),
    }
    for value in ("上海市", "上海", "Shanghai"):
        assert _count(db, "city", value) == 5
    assert _count(db, "district", "徐汇区") == 1
    assert _count(db, "city", "Paris") == 1

    before = data_counts(db)
    again = run_import(db, "customers", path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert data_counts(db) == before


def test_a_row_sets_the_levels_it_gives_and_those_above(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138001", city="杭州", district="西湖区")
        create_customer(session, name="李娜", phone="13800138002")
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,省份\n张伟,13800138001,浙江\n李娜,13800138002,Zhejiang\n")
    run_import(db, "customers", path)
    places = _places(db)
    # The same province, as the file writes it: the city and district stay.
    assert places["张伟"] == ("浙江省", "330000", "杭州市", "330100", "西湖区", "330106")
    assert places["李娜"] == ("浙江省", "330000", None, None, None, None)


def test_a_district_column_is_read_in_its_city(db: Database, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv", "姓名,手机号,城市,区县\n张伟,13800138001,长春,朝阳区\n李娜,13800138002,北京,朝阳\n"
    )
    run_import(db, "customers", path)
    assert _places(db) == {
        "张伟": ("吉林省", "220000", "长春市", "220100", "朝阳区", "220104"),
        "李娜": ("北京市", "110000", "北京市", "110100", "朝阳区", "110105"),
    }
