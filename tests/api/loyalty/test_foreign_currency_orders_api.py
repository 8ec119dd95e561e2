"""Orders paid in another currency over HTTP: converted at the rate covering their local day,
points and growth in the program's currency, the answer naming the rate; refused only when no
rate covers the day or the code is not ISO 4217."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, row, table_counts
from tests.factories import headers_for

ORDER = {
    "external_id": "HK-1001",
    "source": "pos-hongkong-01",
    "identity": {"kind": "phone", "value": "13800138000"},
    "paid_amount": "100.00",
    "currency": "USD",
    # 16:30 UTC on 31 January is 00:30 on 1 February in Shanghai: February's rate applies.
    "occurred_at": "2026-01-31T16:30:00+00:00",
    "lines": [
        {"sku": "BAG", "category": "apparel", "quantity": 1, "unit_price": "80.00"},
        {"sku": "TAG", "category": "apparel", "quantity": 2, "unit_price": "15.00"},
    ],
}
RATES = {
    "rates": [
        {"currency": "USD", "rate": "7.10", "valid_from": "2026-01-01", "valid_to": "2026-01-31"},
        {"currency": "USD", "rate": "7.2345", "valid_from": "2026-02-01", "valid_to": "2026-02-28"},
    ]
}


def _number(value: Any, places: int = 2) -> Decimal:
    """A NUMERIC read raw (SQLite hands back the float it stores)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


@pytest.fixture
def pos(db: Database, client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    created = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    loaded = client.post("/api/v1/exchange-rates", json=RATES, headers=admin_headers)
    assert loaded.status_code == 201, loaded.text
    return headers_for(db, client, "integration", username="pos")


def test_an_order_in_dollars_counts_in_yuan_and_names_its_rate(
    db: Database, client: TestClient, pos: dict[str, str]
) -> None:
    response = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["paid_amount"], order["currency"]) == ("723.45", "CNY")
    assert order["exchange"] == {
        "currency": "USD",
        "amount": "100.00",
        "rate": "7.23450000",
        "valid_from": "2026-02-01",
    }
    assert (order["points_earned"], order["growth_earned"], order["points_balance"]) == (723, 723, 723)
    stored = row(db, "loyalty_orders", order["id"])
    assert (_number(stored["paid_amount"]), stored["currency"]) == (Decimal("723.45"), "CNY")
    assert (_number(stored["original_amount"]), stored["original_currency"]) == (Decimal("100.00"), "USD")
    assert _number(stored["exchange_rate"], 8) == Decimal("7.2345")
    assert str(stored["rate_valid_from"]) == "2026-02-01"

    detail = client.get(f"/api/v1/orders/{order['id']}", headers=pos).json()
    assert detail["exchange"] == order["exchange"]
    # 723.45 spread 80 : 30 over the lines; unit prices converted one by one
    assert [(line["unit_price"], line["paid_share"]) for line in detail["lines"]] == [
        ("578.76", "526.15"),
        ("108.52", "197.30"),
    ]
    replay = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert replay.status_code == 200
    assert {**replay.json(), "replayed": False} == order
    # Refunds are in the program's currency, as the order was recorded.
    refund = client.post(
        f"/api/v1/orders/{order['id']}/refunds", json={"amount": "723.45"}, headers={**pos, "Idempotency-Key": "r1"}
    )
    assert refund.status_code == 201, refund.text
    assert (refund.json()["currency"], refund.json()["points_reversed"]) == ("CNY", 723)


def test_an_order_in_the_program_currency_has_no_exchange(client: TestClient, pos: dict[str, str]) -> None:
    body = {**ORDER, "currency": "CNY", "external_id": "CN-1"}
    order = client.post("/api/v1/orders", json=body, headers=pos).json()
    assert (order["paid_amount"], order["exchange"]) == ("100.00", None)


def test_a_lower_case_code_is_the_same_currency(client: TestClient, pos: dict[str, str]) -> None:
    body = {**ORDER, "currency": "usd", "occurred_at": "2026-01-10T10:00:00+08:00", "lines": []}
    order = client.post("/api/v1/orders", json=body, headers=pos).json()
    assert order["exchange"]["rate"] == "7.10000000"
    assert order["paid_amount"] == "710.00"


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        (
            {"occurred_at": "2026-03-01T10:00:00+08:00"},
            "no_exchange_rate",
            "currency: no exchange rate for USD covers 2026-03-01",
        ),
        ({"currency": "EUR"}, "no_exchange_rate", "currency: no exchange rate for EUR covers 2026-02-01"),
        ({"currency": "ABC"}, "unknown_currency", "currency: ABC is not an ISO 4217 currency code"),
    ],
)
def test_no_rate_or_an_unknown_code_is_422_and_writes_nothing(
    db: Database, client: TestClient, pos: dict[str, str], change: dict[str, Any], code: str, detail: str
) -> None:
    before = table_counts(db)
    response = client.post("/api/v1/orders", json={**ORDER, **change}, headers=pos)
    problem = assert_problem(response, 422, code, ["currency"])
    assert problem["errors"][0]["code"] == code
    assert problem["detail"] == detail
    after = table_counts(db)
    assert after["loyalty_orders"] == before["loyalty_orders"] == 0
    assert after["loyalty_accounts"] == before["loyalty_accounts"] == 0
    assert after["loyalty_point_entries"] == 0


def test_no_rate_with_another_problem_is_a_plain_validation_failure(client: TestClient, pos: dict[str, str]) -> None:
    body = {**ORDER, "currency": "EUR", "paid_amount": "500.00"}  # and more than the lines' total
    problem = assert_problem(client.post("/api/v1/orders", json=body, headers=pos), 422, "validation_failed")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("currency", "no_exchange_rate"),
        ("paid_amount", "exceeds_lines"),
    ]
