"""Shared fixtures of the loyalty API tests: two orders of one member (1,000 and 3,000 CNY), the
second reaching silver."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def orders(client: TestClient, admin_headers: dict[str, str]) -> list[dict[str, Any]]:
    customer = client.post("/api/v1/customers", json={"name": "张伟"}, headers=admin_headers).json()
    posted = []
    for i, (amount, day) in enumerate((("1000.00", "2026-06-01"), ("3000.00", "2026-09-01"))):
        response = client.post(
            "/api/v1/orders",
            json={
                "external_id": f"POS-{i}",
                "source": "pos-test",
                "customer_id": customer["id"],
                "paid_amount": amount,
                "occurred_at": f"{day}T10:00:00+08:00",
                "lines": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "unit_price": amount}],
            },
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
        posted.append(response.json())
    return posted
