"""Every customer endpoint on its success path, with the exact response and rows written."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.customers.models import CustomerNote
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent
from tests.api.helpers import assert_problem, audit_records, table_counts

BASE = "/api/v1/customers"
FULL: dict[str, Any] = {
    "name": "张伟",
    "phone": "138 0013 8000",
    "email": "Zhang.Wei@Example.com",
    "resident_id": "11010519491231002x",
    "wechat_unionid": "oUnion_1",
    "member_card": "vip-0001",
    "gender": "male",
    "birthday": "1990-05-17",
    "province": "上海市",
    "city": "上海市",
    "occupation": "工程师",
    "income_band": "10k_20k",
    "preferred_channel": "wechat",
    "preferred_language": "zh-CN",
    "source_channel": "store",
    "region": "华东",
    "address": "上海市浦东新区世纪大道100号",
    "identities": [{"kind": "wechat_openid", "value": "oOpen_1", "namespace": "wx-shop", "verified": True}],
    "tags": ["vip", "新客"],
}


@pytest.fixture
def customer(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(BASE, json=FULL, headers=admin_headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_returns_the_full_detail(
    client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]
) -> None:
    assert customer["member_no"] == "GX0010000001"
    expected = {
        "name": "张伟",
        "gender": "male",
        "birthday": "1990-05-17",
        "province": "上海市",
        "city": "上海市",
        "occupation": "工程师",
        "income_band": "10k_20k",
        "preferred_channel": "wechat",
        "preferred_language": "zh-CN",
        "source_channel": "store",
        "owner_id": None,
        "region": "华东",
        "phone": "+8613800138000",
        "email": "zhang.wei@example.com",
        "address": "上海市浦东新区世纪大道100号",
        "tags": ["vip", "新客"],
    }
    assert {k: customer[k] for k in expected} == expected
    identities = [(i["kind"], i["namespace"], i["value"], i["verified"]) for i in customer["identities"]]
    assert sorted(identities) == sorted(
        [
            ("phone", "", "+8613800138000", False),
            ("email", "", "zhang.wei@example.com", False),
            ("resident_id", "", "11010519491231002X", False),
            ("wechat_unionid", "", "oUnion_1", False),
            ("member_card", "", "VIP-0001", False),
            ("wechat_openid", "wx-shop", "oOpen_1", True),
        ]
    )
    counts = table_counts(db)
    assert (counts["customers"], counts["customer_identities"], counts["customer_tags"]) == (1, 6, 2)
    assert [r.action for r in audit_records(db)][-2:] == ["customer.create", "customer.reveal"]


def test_create_sets_location(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(BASE, json={"name": "李娜"}, headers=admin_headers)
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/{response.json()['id']}"
    body = response.json()
    assert (body["phone"], body["email"], body["identities"], body["tags"], body["gender"]) == (
        None,
        None,
        [],
        [],
        "unknown",
    )


def test_get_list_and_stats(client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any]) -> None:
    got = client.get(f"{BASE}/{customer['id']}", headers=admin_headers)
    assert got.status_code == 200
    assert got.json() == customer

    listed = client.get(BASE, headers=admin_headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["next_cursor"] is None
    assert [c["id"] for c in page["items"]] == [customer["id"]]
    assert "identities" not in page["items"][0]
    assert page["items"][0]["phone"] == "+8613800138000"

    stats = client.get(f"{BASE}/stats", headers=admin_headers)
    assert stats.status_code == 200
    assert stats.json() == {"total": 1, "new_this_week": 1, "by_city": [["上海市", 1]], "by_region": [["华东", 1]]}


@pytest.mark.parametrize(
    "params",
    [
        {"q": "张伟"},
        {"q": "zhangwei"},
        {"q": "zw"},
        {"q": "138 0013 8000"},
        {"q": "+86 138-0013-8000"},
        {"q": "ZHANG.WEI@example.com"},
        {"q": "GX0010000001"},
        {"q": "VIP-0001"},
        {"phone": "8613800138000"},
        {"email": "zhang.wei@EXAMPLE.com"},
        {"member_no": "gx0010000001"},
        {"city": "上海市", "gender": "male", "tag": "vip", "region": "华东", "source_channel": "store"},
        {"created_from": "2000-01-01T00:00:00Z", "created_to": "2199-01-01T00:00:00+08:00", "q": "zhang"},
    ],
)
def test_search(
    client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any], params: dict[str, str]
) -> None:
    client.post(BASE, json={"name": "李娜", "phone": "13900139000", "city": "北京市"}, headers=admin_headers)
    response = client.get(BASE, params=params, headers=admin_headers)
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["items"]] == ["张伟"]


def test_lookup_by_identity(client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any]) -> None:
    for params in (
        {"kind": "phone", "value": "13800138000"},
        {"kind": "member_card", "value": "VIP-0001"},
        {"kind": "wechat_openid", "value": "oOpen_1", "namespace": "wx-shop"},
    ):
        response = client.get(f"{BASE}/lookup", params=params, headers=admin_headers)
        assert response.status_code == 200, params
        assert response.json()["id"] == customer["id"]
    missing = client.get(f"{BASE}/lookup", params={"kind": "phone", "value": "13900139000"}, headers=admin_headers)
    assert_problem(missing, 404, "not_found")
    other_app = client.get(
        f"{BASE}/lookup",
        params={"kind": "wechat_openid", "value": "oOpen_1", "namespace": "wx-other"},
        headers=admin_headers,
    )
    assert_problem(other_app, 404, "not_found")


def test_update(client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]) -> None:
    response = client.patch(
        f"{BASE}/{customer['id']}",
        json={"name": "曾伟", "city": "杭州市", "gender": None, "address": None},
        headers=admin_headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["city"], body["gender"], body["address"]) == ("曾伟", "杭州市", "unknown", None)
    assert body["updated_at"] >= customer["updated_at"]
    [update] = audit_records(db, "customer.update")
    # The place moves as one: 杭州市 brings 浙江省 and drops the district read from the old address.
    assert update.fields == ["address", "city", "district", "gender", "name", "province"]
    assert (body["province"], body["province_code"], body["city_code"], body["district"]) == (
        "浙江省",
        "330000",
        "330100",
        None,
    )
    assert client.get(BASE, params={"q": "zengwei"}, headers=admin_headers).json()["items"][0]["id"] == customer["id"]


def test_delete(client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]) -> None:
    response = client.delete(f"{BASE}/{customer['id']}", headers=admin_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(f"{BASE}/{customer['id']}", headers=admin_headers), 404, "not_found")
    assert_problem(client.delete(f"{BASE}/{customer['id']}", headers=admin_headers), 404, "not_found")
    assert table_counts(db)["customer_identities"] == 0
    again = client.post(BASE, json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert again.status_code == 201


def test_identities(client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]) -> None:
    url = f"{BASE}/{customer['id']}/identities"
    listed = client.get(url, headers=admin_headers)
    assert listed.status_code == 200
    assert len(listed.json()) == 6

    added = client.post(url, json={"kind": "app_user_id", "value": "app-42"}, headers=admin_headers)
    assert added.status_code == 201
    app_ids = [i for i in added.json() if i["kind"] == "app_user_id"]
    assert [(i["value"], i["namespace"], i["verified"]) for i in app_ids] == [("app-42", "", False)]

    removed = client.delete(f"{url}/{app_ids[0]['id']}", headers=admin_headers)
    assert removed.status_code == 204
    assert len(client.get(url, headers=admin_headers).json()) == 6
    assert_problem(client.delete(f"{url}/{app_ids[0]['id']}", headers=admin_headers), 404, "not_found")
    actions = [r.action for r in audit_records(db) if r.entity_id == customer["id"]]
    assert "customer.identity.add" in actions
    assert "customer.identity.remove" in actions


def test_notes(client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]) -> None:
    url = f"{BASE}/{customer['id']}/notes"
    html = '<img src=x onerror="alert(1)"><b>VIP</b> 客户; DROP TABLE customers; --'
    first = client.post(url, json={"body": "第一次来店"}, headers=admin_headers)
    second = client.post(url, json={"body": html}, headers=admin_headers)
    assert first.status_code == second.status_code == 201
    note = second.json()
    assert note["body"] == html
    assert (note["customer_id"], note["author_name"]) == (customer["id"], "admin")
    listed = client.get(url, headers=admin_headers)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert [n["body"] for n in listed.json()] == [html, "第一次来店"]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(CustomerNote.body).where(CustomerNote.id == note["id"])) == html
    [record] = audit_records(db, "customer.note.add")[1:]
    assert record.detail == {"note_id": note["id"]}
    assert html not in repr(record.detail)


def test_tags(client: TestClient, admin_headers: dict[str, str], db: Database, customer: dict[str, Any]) -> None:
    url = f"{BASE}/{customer['id']}/tags"
    assert client.get(url, headers=admin_headers).json() == ["vip", "新客"]
    added = client.post(url, json={"tag": "  生日月 "}, headers=admin_headers)
    assert added.status_code == 201
    assert added.json() == ["vip", "新客", "生日月"]
    assert client.post(url, json={"tag": "vip"}, headers=admin_headers).json() == ["vip", "新客", "生日月"]
    removed = client.delete(f"{url}/vip", headers=admin_headers)
    assert removed.status_code == 200
    assert removed.json() == ["新客", "生日月"]
    assert_problem(client.delete(f"{url}/vip", headers=admin_headers), 404, "not_found")
    tags = client.post(url, json={"tag": "渠道/天猫 100%"}, headers=admin_headers).json()
    assert sorted(tags) == sorted(["新客", "渠道/天猫 100%", "生日月"])
    removed = client.delete(f"{url}/{quote('渠道/天猫 100%', safe='')}", headers=admin_headers)
    assert removed.status_code == 200
    assert removed.json() == ["新客", "生日月"]
    with db.unit_of_work(read_only=True) as session:
        topics = list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))
    assert topics == ["customer.created", "customer.tagged", "customer.tagged"]


def test_history(client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any]) -> None:
    client.patch(f"{BASE}/{customer['id']}", json={"city": "杭州市"}, headers=admin_headers)
    response = client.get(f"{BASE}/{customer['id']}/history", headers=admin_headers)
    assert response.status_code == 200
    entries = response.json()
    assert [e["action"] for e in entries if e["action"] != "customer.reveal"] == ["customer.update", "customer.create"]
    update = next(e for e in entries if e["action"] == "customer.update")
    assert (update["fields"], update["actor_name"], update["actor_role"], update["outcome"]) == (
        ["city", "district", "province"],
        "admin",
        "admin",
        "ok",
    )
    assert "13800138000" not in response.text


def test_unknown_customer_is_404_everywhere(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    missing = f"{BASE}/01JZZZZZZZZZZZZZZZZZZZZZZZ"
    before = table_counts(db)
    for method, path, body in (
        ("get", missing, None),
        ("patch", missing, {"city": "x"}),
        ("delete", missing, None),
        ("get", f"{missing}/identities", None),
        ("post", f"{missing}/identities", {"kind": "app_user_id", "value": "a"}),
        ("get", f"{missing}/notes", None),
        ("post", f"{missing}/notes", {"body": "x"}),
        ("get", f"{missing}/tags", None),
        ("post", f"{missing}/tags", {"tag": "x"}),
        ("delete", f"{missing}/tags/x", None),
        ("get", f"{missing}/history", None),
    ):
        kwargs: dict[str, Any] = {"headers": admin_headers}
        if body is not None:
            kwargs["json"] = body
        assert_problem(client.request(method.upper(), path, **kwargs), 404, "not_found")
    assert table_counts(db) == before
