"""Revision 0012 gives customers division codes and normalises the province and city already stored;
values no division matches stay as they were, and a downgrade drops only the new columns."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, inspect, text

from guanxi.migrations import runner
from tests.integration.migrations.test_migrations import throwaway_engine  # noqa: F401 (fixture)

NOW = datetime(2026, 11, 20, tzinfo=UTC)
STORED = {
    "c1": ("上海", None),
    "c2": (None, "上海"),
    "c3": ("上海市", "上海市"),
    "c4": (None, "Shanghai"),
    "c5": ("广东", "广州"),
    "c6": (None, "广州"),
    "c7": ("法国", "巴黎"),
    "c8": (None, None),
    "c9": ("广东", "杭州"),
}


def _places(engine: Engine) -> dict[str, tuple[str | None, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, province, province_code, city, city_code, district, district_code FROM customers")
        )
        return {r.id: tuple(r[1:]) for r in rows}


def test_upgrade_codes_stored_places_and_downgrade_drops_the_codes(throwaway_engine: Engine) -> None:  # noqa: F811
    engine = throwaway_engine
    runner.upgrade(engine, "0011")
    with engine.begin() as conn:
        for number, (key, (province, city)) in enumerate(STORED.items()):
            conn.execute(
                text(
                    "INSERT INTO customers (id, member_no, name, name_pinyin, name_initials, gender,"
                    " preferred_language, province, city, created_at, updated_at)"
                    " VALUES (:id, :no, '张伟', 'zhangwei', 'zw', 'unknown', 'zh-CN', :province, :city, :t, :t)"
                ),
                {"id": key, "no": f"GX{number}", "province": province, "city": city, "t": NOW},
            )

    runner.upgrade(engine, "0012")
    shanghai = ("上海市", "310000", "上海市", "310100", None, None)
    guangzhou = ("广东省", "440000", "广州市", "440100", None, None)
    assert _places(engine) == {
        "c1": shanghai,
        "c2": shanghai,
        "c3": shanghai,
        "c4": shanghai,
        "c5": guangzhou,
        "c6": guangzhou,
        "c7": ("法国", None, "巴黎", None, None, None),
        "c8": (None, None, None, None, None, None),
        "c9": ("广东省", "440000", "杭州", None, None, None),
    }
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("customers")}
    assert {"ix_customers_province_code", "ix_customers_city_code", "ix_customers_district_code"} <= indexes

    runner.downgrade(engine, "0011")
    columns = {c["name"] for c in inspect(engine).get_columns("customers")}
    assert not columns & {"district", "province_code", "city_code", "district_code"}
    with engine.connect() as conn:
        kept = dict(conn.execute(text("SELECT id, city FROM customers WHERE id IN ('c2', 'c7')")).all())
    assert kept == {"c2": "上海市", "c7": "巴黎"}
