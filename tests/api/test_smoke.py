from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from tests.factories import headers_for


def test_create_and_fetch_customer(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["phone"] == "+8613800138000"
    fetched = client.get(f"/api/v1/customers/{body['id']}", headers=admin_headers)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "张伟"


def test_analyst_cannot_create(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "analyst")
    response = client.post("/api/v1/customers", json={"name": "张伟"}, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
