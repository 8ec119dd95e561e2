"""A caller who may not see a customer learns nothing about them from a conflict: an identity held
by an out-of-scope customer answers 409 without that customer's id; in scope, the pointer stays."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts
from tests.factories import create_customer, headers_for

BASE = "/api/v1/customers"
HIDDEN = "belongs to another customer; ask a manager"


@pytest.fixture
def southern(db: Database) -> str:
    """A customer of region 华南 holding a phone number."""
    with db.unit_of_work() as session:
        return create_customer(session, name="陈静", phone="13712349999", region="华南").id


def _no_pointer(problem: dict[str, Any], customer_id: str) -> None:
    assert "existing_customer_id" not in problem and "existing_customer_url" not in problem
    assert customer_id not in str(problem)


def test_creating_with_an_out_of_scope_customers_phone_reveals_nothing(
    client: TestClient, db: Database, southern: str
) -> None:
    headers = headers_for(db, client, "manager", region="华东")
    before = table_counts(db)
    response = client.post(BASE, json={"name": "李娜", "phone": "137 1234 9999"}, headers=headers)
    problem = assert_problem(response, 409, "conflict", ["phone"])
    assert problem["detail"] == f"phone: {HIDDEN}"
    assert problem["errors"] == [{"field": "phone", "message": HIDDEN, "code": "taken_out_of_scope"}]
    _no_pointer(problem, southern)
    assert table_counts(db) == before


def test_a_salesperson_cannot_probe_phone_numbers(client: TestClient, db: Database, southern: str) -> None:
    headers = headers_for(db, client, "sales")
    taken = client.post(BASE, json={"name": "李娜", "phone": "13712349999"}, headers=headers)
    _no_pointer(assert_problem(taken, 409, "conflict", ["phone"]), southern)


def test_adding_an_out_of_scope_customers_identity_reveals_nothing(
    client: TestClient, db: Database, southern: str
) -> None:
    headers = headers_for(db, client, "manager", region="华东")
    mine = client.post(BASE, json={"name": "李娜"}, headers=headers).json()["id"]
    before = table_counts(db)
    response = client.post(f"{BASE}/{mine}/identities", json={"kind": "phone", "value": "13712349999"}, headers=headers)
    problem = assert_problem(response, 409, "conflict", ["value"])
    assert problem["detail"] == f"value: {HIDDEN}"
    _no_pointer(problem, southern)
    assert table_counts(db) == before


def test_in_scope_the_conflict_still_points_at_the_customer(client: TestClient, db: Database, southern: str) -> None:
    for headers in (headers_for(db, client, "manager", region="华南"), headers_for(db, client, "admin")):
        response = client.post(BASE, json={"name": "李娜", "phone": "13712349999"}, headers=headers)
        problem = assert_problem(response, 409, "conflict", ["phone"])
        assert (problem["existing_customer_id"], problem["existing_customer_url"]) == (
            southern,
            f"{BASE}/{southern}",
        )


def test_a_merged_customer_points_only_at_a_survivor_the_caller_may_see(client: TestClient, db: Database) -> None:
    admin = headers_for(db, client, "admin")
    survivor = client.post(BASE, json={"name": "张伟", "region": "华东"}, headers=admin).json()["id"]
    merged = client.post(BASE, json={"name": "张伟", "region": "华东"}, headers=admin).json()["id"]
    assert (
        client.post("/api/v1/merges", json={"survivor_id": survivor, "merged_id": merged}, headers=admin).status_code
        == 201
    )
    east = headers_for(db, client, "manager", region="华东")
    assert (
        assert_problem(client.get(f"{BASE}/{merged}", headers=east), 410, "customer_merged")["merged_into"] == survivor
    )
    assert client.patch(f"{BASE}/{survivor}", json={"region": "华南"}, headers=admin).status_code == 200
    problem = assert_problem(client.get(f"{BASE}/{merged}", headers=east), 404, "not_found")
    _no_pointer(problem, survivor)
