"""Events, event types, the customer 360 timeline and data quality over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for, post_order

EVENTS = "/api/v1/events"


def _customer(client: TestClient, headers: dict[str, str], **fields: Any) -> str:
    body = {"name": "张伟", **fields}
    response = client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def ev(event_id: str, type_: str = "page_view", minutes_ago: int = 5, **fields: Any) -> dict[str, Any]:
    at = clock.now() - timedelta(minutes=minutes_ago)
    return {"event_id": event_id, "type": type_, "occurred_at": at.isoformat(), **fields}


def test_batch_answer_lists_every_event(client: TestClient, admin_headers: dict[str, str]) -> None:
    zhang = _customer(client, admin_headers, phone="13800138000")
    body = {
        "events": [
            ev("e1", identities=[{"kind": "phone", "value": "13800138000"}], properties={"url": "/"}),
            ev("e2", "search", anonymous_id="dev-1", properties={"query": "奶粉"}),
        ]
    }
    response = client.post(EVENTS, json=body, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 0,
        "identities_linked": 0,
        "stitched": 0,
        "merges": [],
        "results": [
            {"index": 0, "event_id": "e1", "status": "accepted", "customer_id": zhang, "errors": [], "warnings": []},
            {"index": 1, "event_id": "e2", "status": "accepted", "customer_id": None, "errors": [], "warnings": []},
        ],
    }
    again = client.post(EVENTS, json=body, headers=admin_headers).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)


def test_a_bad_batch_is_problem_json_and_writes_nothing(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    zhang = _customer(client, admin_headers)
    before = table_counts(db)
    future = (clock.now() + timedelta(days=1)).isoformat()
    body = {
        "events": [
            ev("ok", customer_id=zhang),
            {"event_id": "f", "type": "page_view", "occurred_at": future, "customer_id": zhang},
            ev("u", "unknown_thing", customer_id=zhang),
        ]
    }
    response = client.post(EVENTS, json=body, headers=admin_headers)
    assert_problem(response, 422, "validation_failed", ["events[1].occurred_at", "events[2].type"])
    assert table_counts(db) == before
    partial = client.post(f"{EVENTS}?partial=true", json=body, headers=admin_headers).json()
    assert [r["status"] for r in partial["results"]] == ["accepted", "rejected", "rejected"]
    too_many = {"events": [ev(f"e{i}", customer_id=zhang) for i in range(1001)]}
    assert_problem(client.post(EVENTS, json=too_many, headers=admin_headers), 422, "validation_failed", ["events"])
    assert_problem(client.post(EVENTS, json={"events": "x"}, headers=admin_headers), 422, "validation_failed")


def test_roles_without_events_create_are_refused(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    zhang = _customer(client, admin_headers)
    analyst = headers_for(db, client, "analyst")
    before = table_counts(db)
    response = client.post(EVENTS, json={"events": [ev("e1", customer_id=zhang)]}, headers=analyst)
    assert_problem(response, 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 1  # the denial itself
    assert after == before


def test_event_types_registry(client: TestClient, admin_headers: dict[str, str]) -> None:
    listed = client.get("/api/v1/event-types", params={"limit": 200}, headers=admin_headers).json()["items"]
    assert {t["code"] for t in listed if t["builtin"]} >= {"page_view", "product_view", "store_visit", "login"}
    custom = {
        "code": "coupon_view",
        "label_zh": "查看优惠券",
        "label_en": "Coupon view",
        "properties": {"coupon": "string"},
    }
    created = client.post("/api/v1/event-types", json=custom, headers=admin_headers)
    assert created.status_code == 201 and created.json()["properties"] == {"coupon": "string"}
    assert_problem(client.post("/api/v1/event-types", json=custom, headers=admin_headers), 409, "conflict", ["code"])
    bad = {**custom, "code": "x2", "properties": {"a": "text"}}
    assert_problem(client.post("/api/v1/event-types", json=bad, headers=admin_headers), 422, "validation_failed")
    patched = client.patch("/api/v1/event-types/page_view", json={"retention_days": 90}, headers=admin_headers)
    assert patched.status_code == 200 and patched.json()["retention_days"] == 90
    assert_problem(client.get("/api/v1/event-types/nope", headers=admin_headers), 404, "not_found")


def test_timeline_brings_events_orders_points_and_notes_together(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    zhang = _customer(client, admin_headers, phone="13800138000")
    base = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with clock.frozen(base):
        client.post(EVENTS, json={"events": [ev("v1", customer_id=zhang, minutes_ago=30)]}, headers=admin_headers)
        with db.unit_of_work() as session:
            post_order(
                session, customer_id=zhang, external_id="T-1", amount="100.00", occurred_at=base - timedelta(minutes=20)
            )
        note = client.post(f"/api/v1/customers/{zhang}/notes", json={"body": "喜欢母婴"}, headers=admin_headers)
        assert note.status_code == 201, note.text
        url = f"/api/v1/customers/{zhang}/timeline"
        everything = client.get(url, headers=admin_headers).json()
        kinds = [i["kind"] for i in everything["items"]]
        assert kinds == ["identity", "note", "points", "order", "event"]
        assert everything["hidden"] == [] and everything["next_cursor"] is None
        only = client.get(url, params={"types": "order,event"}, headers=admin_headers).json()
        assert [i["kind"] for i in only["items"]] == ["order", "event"]
        first = client.get(url, params={"limit": 2}, headers=admin_headers).json()
        second = client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin_headers).json()
        third = client.get(url, params={"limit": 2, "cursor": second["next_cursor"]}, headers=admin_headers).json()
        paged = [i["kind"] for page in (first, second, third) for i in page["items"]]
        assert paged == kinds and third["next_cursor"] is None
        window = {
            "since": (base - timedelta(minutes=25)).isoformat(),
            "until": (base - timedelta(minutes=1)).isoformat(),
        }
        assert [i["kind"] for i in client.get(url, params=window, headers=admin_headers).json()["items"]] == [
            "points",
            "order",
        ]
        assert_problem(client.get(url, params={"types": "telepathy"}, headers=admin_headers), 422, "validation_failed")
        assert_problem(client.get(url, params={"cursor": "nonsense"}, headers=admin_headers), 422, "validation_failed")
        assert_problem(client.get("/api/v1/customers/nope/timeline", headers=admin_headers), 404, "not_found")
    assert len(audit_records(db, "customer.timeline_viewed")) == 6  # one per successful read


def test_a_role_sees_which_kinds_are_left_out(db: Database, client: TestClient) -> None:
    admin = headers_for(db, client, "admin")
    zhang = _customer(client, admin)
    service = headers_for(db, client, "analyst")
    answer = client.get(f"/api/v1/customers/{zhang}/timeline", headers=service).json()
    assert answer["hidden"] == ["merge", "note", "points"]


def test_customer_360_and_data_quality(db: Database, client: TestClient, admin_headers: dict[str, str]) -> None:
    full = _customer(
        client,
        admin_headers,
        phone="13800138000",
        email="z@example.com",
        wechat_unionid="oU1",
        gender="male",
        birthday="1990-05-17",
        province="上海市",
        city="上海市",
        occupation="工程师",
        income_band="10k_20k",
        preferred_channel="wechat",
    )
    thin = _customer(client, admin_headers, name="李娜", city="杭州市")
    top = client.get(f"/api/v1/customers/{full}/360", headers=admin_headers).json()
    assert top["completeness"] == 100 and top["missing"] == []
    assert "loyalty" in top["sections"]
    low = client.get(f"/api/v1/customers/{thin}/360", headers=admin_headers).json()
    assert low["completeness"] == 25  # name 10 + city 10 + province 5 (浙江省, from the city)
    assert low["missing"] == [
        "phone",
        "wechat",
        "birthday",
        "email",
        "gender",
        "occupation",
        "income_band",
        "preferred_channel",
    ]
    report = client.get("/api/v1/data-quality", headers=admin_headers).json()
    assert report["customers"] == 2 and report["average_score"] == 62
    assert report["score_bands"] == {"low": 1, "mid": 0, "high": 1}
    assert report["missing"]["phone"] == 1 and report["invalid"]["city_without_province"] == 0
    check = client.post("/api/v1/data-quality/checks", headers=admin_headers)
    assert check.status_code == 201 and check.json()["average_score"] == 62
    assert [c["customers"] for c in client.get("/api/v1/data-quality/checks", headers=admin_headers).json()] == [2]
    sales = headers_for(db, client, "sales")
    assert_problem(client.get("/api/v1/data-quality", headers=sales), 403, "permission_denied")
