"""Places through the API: however a province, city or district is typed, a customer is stored with
the official names and division codes, and lists, the home page's figures and segments find them
by code."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts

BASE = "/api/v1/customers"
PLACE_KEYS = ("province", "province_code", "city", "city_code", "district", "district_code")
SHANGHAI = ("上海市", "310000", "上海市", "310100", None, None)


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "张伟", **fields}
    response = client.post(BASE, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _place(body: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(body[key] for key in PLACE_KEYS)


def _stored(db: Database, customer_id: str) -> tuple[Any, ...]:
    with db.unit_of_work(read_only=True) as session:
        row = session.execute(
            select(*(getattr(Customer, key) for key in PLACE_KEYS)).where(Customer.id == customer_id)
        ).one()
        return tuple(row)


def test_create_stores_official_names_and_codes_however_typed(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    typed = [{"city": "上海"}, {"province": "上海市"}, {"city": "Shanghai"}, {"province": "上海", "city": "上海"}]
    for number, fields in enumerate(typed):
        body = _create(client, admin_headers, phone=f"1380013800{number}", **fields)
        assert _place(body) == SHANGHAI
        assert _stored(db, body["id"]) == SHANGHAI
    guangzhou = _create(client, admin_headers, phone="13900139000", city="广州")
    assert _place(guangzhou) == ("广东省", "440000", "广州市", "440100", None, None)
    chaoyang = _create(client, admin_headers, phone="13900139001", city="长春", district="朝阳区")
    assert _place(chaoyang) == ("吉林省", "220000", "长春市", "220100", "朝阳区", "220104")
    # Fields left empty are read from the start of the address.
    addressed = _create(client, admin_headers, phone="13900139002", address="浙江省杭州市西湖区文三路")
    assert _place(addressed) == ("浙江省", "330000", "杭州市", "330100", "西湖区", "330106")
    # A city no division names is kept as typed, without a code: never refused.
    paris = _create(client, admin_headers, phone="13900139003", city="Paris")
    assert _place(paris) == (None, None, "Paris", None, None, None)
    assert _stored(db, paris["id"]) == (None, None, "Paris", None, None, None)


def test_update_moves_the_place_as_one(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    customer = _create(client, admin_headers, phone="13800138000", city="杭州", district="西湖区")
    moved = client.patch(f"{BASE}/{customer['id']}", json={"city": "广州"}, headers=admin_headers)
    assert moved.status_code == 200, moved.text
    assert _place(moved.json()) == ("广东省", "440000", "广州市", "440100", None, None)
    district = client.patch(f"{BASE}/{customer['id']}", json={"district": "天河区"}, headers=admin_headers)
    assert _place(district.json()) == ("广东省", "440000", "广州市", "440100", "天河区", "440106")
    cleared = client.patch(f"{BASE}/{customer['id']}", json={"city": None}, headers=admin_headers)
    assert _place(cleared.json()) == ("广东省", "440000", None, None, None, None)
    assert _stored(db, customer["id"]) == ("广东省", "440000", None, None, None, None)


def test_a_too_long_district_is_refused_and_changes_nothing(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    customer = _create(client, admin_headers, phone="13800138000", city="上海")
    before = table_counts(db)
    response = client.patch(f"{BASE}/{customer['id']}", json={"district": "区" * 41}, headers=admin_headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["district"]
    assert table_counts(db) == before
    assert _stored(db, customer["id"]) == SHANGHAI


def test_lists_and_figures_go_by_code(client: TestClient, admin_headers: dict[str, str]) -> None:
    ids = [
        _create(client, admin_headers, phone=f"1380013800{n}", city=city)["id"]
        for n, city in enumerate(["上海", "上海市", "Shanghai", "北京", "Paris"])
    ]
    for city in ("上海", "上海市", "Shanghai", "shanghai city"):
        page = client.get(BASE, params={"city": city, "sort": "created_at", "order": "asc"}, headers=admin_headers)
        assert [item["id"] for item in page.json()["items"]] == ids[:3]
    by_province = client.get(BASE, params={"province": "Beijing"}, headers=admin_headers).json()["items"]
    assert [item["id"] for item in by_province] == [ids[3]]
    foreign = client.get(BASE, params={"city": "Paris"}, headers=admin_headers).json()["items"]
    assert [item["id"] for item in foreign] == [ids[4]]
    stats = client.get(f"{BASE}/stats", headers=admin_headers).json()
    assert stats["by_city"] == [["上海市", 3], ["北京市", 1], ["Paris", 1]]


def test_a_segment_on_a_city_matches_it_however_typed(client: TestClient, admin_headers: dict[str, str]) -> None:
    for n, (city, district) in enumerate(
        [
            ("上海", "徐汇区"),
            ("上海市", None),
            ("Shanghai", None),
            ("北京", "朝阳区"),
            ("长春", "朝阳区"),
            ("Paris", None),
        ]
    ):
        _create(client, admin_headers, phone=f"1380013800{n}", city=city, district=district)
    _create(client, admin_headers, phone="13900139000")

    def count(rule: dict[str, Any]) -> int:
        response = client.post(
            "/api/v1/segments/preview", json={"conditions": {"rules": [rule]}, "sample": 0}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        return int(response.json()["count"])

    for value in ("上海", "上海市", "Shanghai"):
        assert count({"field": "city", "op": "eq", "value": value}) == 3
        assert count({"field": "province", "op": "eq", "value": value}) == 3
    # Not Shanghai: Beijing, Changchun, Paris and the customer without a city.
    assert count({"field": "city", "op": "ne", "value": "上海"}) == 4
    assert count({"field": "city", "op": "in", "value": ["Shanghai", "Paris"]}) == 4
    assert count({"field": "city", "op": "not_in", "value": ["上海", "北京市"]}) == 3
    # Both Chaoyang districts unless the city narrows it down.
    assert count({"field": "district", "op": "eq", "value": "朝阳区"}) == 2
    narrowed = {"field": "city", "op": "eq", "value": "北京"}
    response = client.post(
        "/api/v1/segments/preview",
        json={"conditions": {"rules": [narrowed, {"field": "district", "op": "eq", "value": "朝阳"}]}, "sample": 0},
        headers=admin_headers,
    )
    assert response.json()["count"] == 1
    assert count({"field": "district", "op": "is_set"}) == 3
    assert count({"field": "city", "op": "is_not_set"}) == 1
