"""Orders, refunds, the member card, the statement and redemption over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

ORDER = {
    "external_id": "POS-1001",
    "source": "pos-shanghai-01",
    "identity": {"kind": "phone", "value": "13800138000"},
    "paid_amount": "1000.00",
    "currency": "CNY",
    "occurred_at": "2026-11-20T10:00:00+08:00",
    "store": "SH-01",
    "channel": "store",
    "lines": [{"sku": "SKU-1", "category": "apparel", "quantity": 2, "unit_price": "500.00"}],
}


@pytest.fixture
def customer(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def pos(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "integration", username="pos")


def test_the_contract_in_the_issue(client: TestClient, customer: dict[str, Any], pos: dict[str, str]) -> None:
    response = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["points_earned"] == 1000
    assert order["points_balance"] == 1000
    assert order["customer_id"] == customer["id"]
    assert order["awards"][0]["rule"] == "base_rate"
    assert response.headers["location"] == f"/api/v1/orders/{order['id']}"

    replay = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert replay.status_code == 200
    assert {**replay.json(), "replayed": False} == order

    card = client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=pos).json()
    assert (card["points_balance"], card["pending_points"], card["growth_value"]) == (1000, 0, 1000)
    assert card["tier"]["code"] == "basic"
    assert card["next_tier"]["code"] == "silver"

    refund = client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"amount": "150.00"}, headers={**pos, "Idempotency-Key": "r1"}
    )
    assert refund.status_code == 201, refund.text
    assert (refund.json()["points_reversed"], refund.json()["points_balance"]) == (150, 850)

    redeem = client.post(
        f"/api/v1/customers/{customer['id']}/points/redeem",
        json={"points": 100},
        headers={**pos, "Idempotency-Key": "d1"},
    )
    assert redeem.status_code == 201, redeem.text
    assert redeem.json()["points_balance"] == 750

    statement = client.get(f"/api/v1/customers/{customer['id']}/points?limit=2", headers=pos).json()
    assert [e["kind"] for e in statement["items"]] == ["redeem", "reverse"]
    more = client.get(
        f"/api/v1/customers/{customer['id']}/points?limit=2&cursor={statement['next_cursor']}", headers=pos
    ).json()
    assert [e["kind"] for e in more["items"]] == ["earn"]
    assert more["next_cursor"] is None


def test_redeem_over_the_balance_is_refused_and_changes_nothing(
    client: TestClient, db: Database, customer: dict[str, Any], pos: dict[str, str]
) -> None:
    client.post("/api/v1/orders", json=ORDER, headers=pos)
    before = table_counts(db)
    response = client.post(
        f"/api/v1/customers/{customer['id']}/points/redeem",
        json={"points": 1001},
        headers={**pos, "Idempotency-Key": "big"},
    )
    body = assert_problem(response, 422, "insufficient_points", ["points"])
    assert body["points_balance"] == 1000
    after = table_counts(db)
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }


def test_redeem_needs_an_idempotency_key_and_a_reused_key_must_match(
    client: TestClient, customer: dict[str, Any], pos: dict[str, str]
) -> None:
    client.post("/api/v1/orders", json=ORDER, headers=pos)
    url = f"/api/v1/customers/{customer['id']}/points/redeem"
    assert_problem(client.post(url, json={"points": 10}, headers=pos), 422, "validation_failed", ["Idempotency-Key"])
    first = client.post(url, json={"points": 10}, headers={**pos, "Idempotency-Key": "same"})
    again = client.post(url, json={"points": 10}, headers={**pos, "Idempotency-Key": "same"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["entry_id"] == first.json()["entry_id"]
    assert again.json()["replayed"] is True
    assert_problem(client.post(url, json={"points": 11}, headers={**pos, "Idempotency-Key": "same"}), 409, "conflict")
    card = client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=pos).json()
    assert card["points_balance"] == 990


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"paid_amount": "-1.00"}, ["paid_amount"]),
        ({"paid_amount": "abc"}, ["paid_amount"]),
        ({"paid_amount": 1.505}, ["paid_amount"]),
        ({"identity": {"kind": "phone", "value": "12345"}}, ["identity.value"]),
        ({"identity": {"kind": "phone", "value": "13900000000"}}, ["identity"]),
        ({"lines": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}]}, ["lines[0].quantity"]),
        ({"surprise": 1}, ["surprise"]),
    ],
)
def test_bad_orders_are_422_and_write_nothing(
    client: TestClient,
    db: Database,
    customer: dict[str, Any],
    pos: dict[str, str],
    change: dict[str, Any],
    fields: list[str] | None,
) -> None:
    before = table_counts(db)
    response = client.post("/api/v1/orders", json={**ORDER, **change}, headers=pos)
    assert_problem(response, 422, "validation_failed", fields)
    after = table_counts(db)
    assert after["loyalty_orders"] == before["loyalty_orders"] == 0
    assert after["loyalty_point_entries"] == 0


def test_refund_over_the_order_and_unknown_order(
    client: TestClient, customer: dict[str, Any], pos: dict[str, str]
) -> None:
    order = client.post("/api/v1/orders", json=ORDER, headers=pos).json()
    url = f"/api/v1/orders/{order['id']}/refunds"
    assert_problem(
        client.post(url, json={"amount": "1000.01"}, headers={**pos, "Idempotency-Key": "x"}),
        422,
        "validation_failed",
        ["amount"],
    )
    assert_problem(
        client.post(
            "/api/v1/orders/01JZZZZZZZZZZZZZZZZZZZZZZZ/refunds",
            json={"amount": "1"},
            headers={**pos, "Idempotency-Key": "y"},
        ),
        404,
        "not_found",
    )
    assert client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=pos).json()["points_balance"] == 1000


def test_roles(client: TestClient, db: Database, customer: dict[str, Any], pos: dict[str, str]) -> None:
    order = client.post("/api/v1/orders", json=ORDER, headers=pos).json()
    analyst = headers_for(db, client, "analyst")
    card = client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=analyst)
    assert card.status_code == 200
    assert (card.json()["points_balance"], card.json()["lifetime_earned"]) == (order["points_earned"], 1000)
    before = table_counts(db)
    denied = [
        client.post("/api/v1/orders", json={**ORDER, "external_id": "A-2"}, headers=analyst),
        client.post(
            f"/api/v1/orders/{order['id']}/refunds", json={"amount": "1"}, headers={**analyst, "Idempotency-Key": "a"}
        ),
        client.post(
            f"/api/v1/customers/{customer['id']}/points/redeem",
            json={"points": 1},
            headers={**analyst, "Idempotency-Key": "a"},
        ),
        client.post(
            f"/api/v1/customers/{customer['id']}/points/adjustments",
            json={"points": 5, "reason": "x1"},
            headers={**analyst, "Idempotency-Key": "a"},
        ),
    ]
    for response in denied:
        assert_problem(response, 403, "permission_denied")
    after = table_counts(db)
    assert after["audit_records"] == before["audit_records"] + len(denied)
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }
    assert client.post("/api/v1/orders", json=ORDER).status_code == 401


def test_adjustment_over_the_threshold_waits_for_a_manager(
    client: TestClient, db: Database, customer: dict[str, Any]
) -> None:
    service = headers_for(db, client, "service")
    manager = headers_for(db, client, "manager", scope="all")
    url = f"/api/v1/customers/{customer['id']}/points/adjustments"
    small = client.post(url, json={"points": 500, "reason": "补录积分"}, headers={**service, "Idempotency-Key": "a"})
    assert small.status_code == 201 and small.json()["status"] == "applied"
    big = client.post(url, json={"points": 5000, "reason": "活动补偿"}, headers={**service, "Idempotency-Key": "b"})
    assert big.status_code == 202 and big.json()["status"] == "pending_approval"
    request_id = big.json()["request_id"]
    assert_problem(
        client.post(f"/api/v1/loyalty/adjustments/{request_id}/approve", headers=service), 403, "permission_denied"
    )
    pending = client.get("/api/v1/loyalty/adjustments", headers=manager).json()
    assert [p["id"] for p in pending] == [request_id]
    approved = client.post(f"/api/v1/loyalty/adjustments/{request_id}/approve", json={"note": "ok"}, headers=manager)
    assert approved.status_code == 200 and approved.json()["status"] == "applied"
    assert client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=manager).json()["points_balance"] == 5500
    assert_problem(client.post(f"/api/v1/loyalty/adjustments/{request_id}/approve", headers=manager), 409, "conflict")
    assert [r.action for r in audit_records(db, "points.adjust_approved")] == ["points.adjust_approved"]


def test_checkin_counts_once_a_day(client: TestClient, customer: dict[str, Any], pos: dict[str, str]) -> None:
    url = f"/api/v1/customers/{customer['id']}/loyalty/actions"
    first = client.post(url, json={"action": "checkin"}, headers=pos)
    again = client.post(url, json={"action": "checkin"}, headers=pos)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["growth"] == 1
    assert again.json()["replayed"] is True
    assert client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=pos).json()["growth_value"] == 1
    assert_problem(client.post(url, json={"action": "dance"}, headers=pos), 422, "validation_failed", ["action"])
