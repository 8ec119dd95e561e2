"""Order statuses over HTTP: recording a cancelled or returned order, cancelling and returning
later, the refusals (each a specific problem, nothing written) and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from guanxi.loyalty.program import config as program
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

ORDER = {
    "external_id": "POS-1",
    "source": "pos-shanghai-01",
    "identity": {"kind": "phone", "value": "13800138000"},
    "paid_amount": "600.00",
    "occurred_at": "2026-11-20T10:00:00+08:00",
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


def _balance(client: TestClient, customer: dict[str, Any], headers: dict[str, str]) -> tuple[int, int]:
    card = client.get(f"/api/v1/customers/{customer['id']}/loyalty", headers=headers).json()
    return card["points_balance"], card["growth_value"]


def test_an_order_recorded_as_cancelled(client: TestClient, customer: dict[str, Any], pos: dict[str, str]) -> None:
    response = client.post("/api/v1/orders", json={**ORDER, "status": "已取消"}, headers=pos)
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["status"], order["points_earned"], order["growth_earned"], order["points_balance"]) == (
        "cancelled",
        0,
        0,
        0,
    )
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=pos).json()
    assert (detail["status"], detail["points_earned"]) == ("cancelled", 0)
    assert detail["cancelled_at"] is not None
    assert _balance(client, customer, pos) == (0, 0)
    replay = client.post("/api/v1/orders", json={**ORDER, "status": "cancelled"}, headers=pos)
    assert (replay.status_code, replay.json()["id"], replay.json()["replayed"]) == (200, order["id"], True)


def test_returned_and_partly_returned_orders(client: TestClient, customer: dict[str, Any], pos: dict[str, str]) -> None:
    returned = client.post("/api/v1/orders", json={**ORDER, "status": "Returned"}, headers=pos).json()
    assert (returned["status"], returned["points_earned"], returned["points_reversed"]) == ("refunded", 600, 600)
    assert (returned["points_balance"], returned["refunded_amount"]) == (0, "600.00")
    partly = client.post(
        "/api/v1/orders",
        json={**ORDER, "external_id": "POS-2", "status": "部分退款", "refunded_amount": "150.00"},
        headers=pos,
    ).json()
    assert (partly["status"], partly["points_reversed"], partly["points_balance"]) == ("partially_refunded", 150, 450)
    assert _balance(client, customer, pos) == (450, 450)
    detail = client.get(f"/api/v1/orders/{partly['id']}", headers=pos).json()
    assert [(r["amount"], r["points_reversed"]) for r in detail["refunds"]] == [("150.00", 150)]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"status": "lost in the post"}, ["status"]),
        ({"status": 1}, ["status"]),
        ({"status": "partially_returned"}, ["refunded_amount"]),
        ({"status": "partially_returned", "refunded_amount": "600.00"}, ["refunded_amount"]),
        ({"status": "partially_returned", "refunded_amount": "0"}, ["refunded_amount"]),
        ({"refunded_amount": "10.00"}, ["refunded_amount"]),
    ],
)
def test_a_bad_status_is_422_and_writes_nothing(
    client: TestClient,
    db: Database,
    customer: dict[str, Any],
    pos: dict[str, str],
    change: dict[str, Any],
    fields: list[str],
) -> None:
    with db.unit_of_work() as session:
        program.ensure(session)  # the program's first use writes its defaults, refused order or not
    before = table_counts(db)
    response = client.post("/api/v1/orders", json={**ORDER, **change}, headers=pos)
    assert_problem(response, 422, "validation_failed", fields)
    assert table_counts(db) == before


def test_cancel_later_then_refund_is_refused(
    client: TestClient, db: Database, customer: dict[str, Any], pos: dict[str, str]
) -> None:
    order = client.post("/api/v1/orders", json=ORDER, headers=pos).json()
    assert _balance(client, customer, pos) == (600, 600)
    first = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=pos)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["status"], body["points_reversed"], body["growth_reversed"], body["points_balance"]) == (
        "cancelled",
        600,
        600,
        0,
    )
    assert _balance(client, customer, pos) == (0, 0)
    assert [r.entity_id for r in audit_records(db, "order.cancel")] == [order["id"]]
    before = table_counts(db)
    again = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=pos)
    assert again.status_code == 200
    assert again.json() == {**body, "replayed": True}
    refused = [
        client.post(
            f"/api/v1/orders/{order['id']}/refunds", json={"amount": "1.00"}, headers={**pos, "Idempotency-Key": "r"}
        ),
        client.post(f"/api/v1/orders/{order['id']}/return", headers={**pos, "Idempotency-Key": "t"}),
    ]
    for response in refused:
        assert_problem(response, 409, "order_cancelled", ["order_id"])
    assert table_counts(db) == before
    assert client.get(f"/api/v1/orders/{order['id']}", headers=pos).json()["status"] == "cancelled"


def test_cancel_of_a_refunded_order_and_the_return_alias(
    client: TestClient, db: Database, customer: dict[str, Any], pos: dict[str, str]
) -> None:
    order = client.post("/api/v1/orders", json=ORDER, headers=pos).json()
    part = client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"amount": "100.00"}, headers={**pos, "Idempotency-Key": "p"}
    )
    assert part.status_code == 201
    before = table_counts(db)
    assert_problem(client.post(f"/api/v1/orders/{order['id']}/cancel", headers=pos), 409, "order_has_refunds")
    assert_problem(client.post(f"/api/v1/orders/{order['id']}/return", headers=pos), 422, "validation_failed")
    assert table_counts(db) == before
    back = client.post(f"/api/v1/orders/{order['id']}/return", headers={**pos, "Idempotency-Key": "all"})
    assert back.status_code == 201, back.text
    assert (back.json()["amount"], back.json()["points_reversed"], back.json()["order_status"]) == (
        "500.00",
        500,
        "refunded",
    )
    retry = client.post(f"/api/v1/orders/{order['id']}/return", headers={**pos, "Idempotency-Key": "all"})
    assert (retry.status_code, retry.json()["id"], retry.json()["replayed"]) == (200, back.json()["id"], True)
    nothing = client.post(f"/api/v1/orders/{order['id']}/return", headers={**pos, "Idempotency-Key": "more"})
    assert_problem(nothing, 409, "nothing_to_return")
    assert _balance(client, customer, pos) == (0, 0)


def test_who_may_cancel(client: TestClient, db: Database, customer: dict[str, Any], pos: dict[str, str]) -> None:
    order = client.post("/api/v1/orders", json=ORDER, headers=pos).json()
    analyst = headers_for(db, client, "analyst")
    before = table_counts(db)
    for path in ("cancel", "return"):
        response = client.post(f"/api/v1/orders/{order['id']}/{path}", headers={**analyst, "Idempotency-Key": "a"})
        assert_problem(response, 403, "permission_denied")
    after = table_counts(db)
    assert after["audit_records"] == before["audit_records"] + 2  # the denials, and nothing else
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }
    service = headers_for(db, client, "service")  # may refund, so may cancel
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", headers=service).json()["status"] == "cancelled"
    assert_problem(client.post("/api/v1/orders/01UNKNOWNORDER000000000000/cancel", headers=pos), 404, "not_found")
