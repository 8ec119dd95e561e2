"""A deleted row is gone from the API: every path that names it answers 404 and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts

VIP = {"rules": [{"field": "tag", "op": "has", "value": "vip"}]}


def _created(response: Any) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_deleted_customer_answers_404_everywhere(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    customer = _created(client.post("/api/v1/customers", json={"name": "张伟"}, headers=admin_headers))
    assert client.delete(f"/api/v1/customers/{customer}", headers=admin_headers).status_code == 204
    before = table_counts(db)
    calls = [
        ("get", f"/api/v1/customers/{customer}", None),
        ("patch", f"/api/v1/customers/{customer}", {"city": "上海"}),
        ("delete", f"/api/v1/customers/{customer}", None),
        ("get", f"/api/v1/customers/{customer}/identities", None),
        ("get", f"/api/v1/customers/{customer}/notes", None),
        ("post", f"/api/v1/customers/{customer}/notes", {"body": "来电"}),
        ("get", f"/api/v1/customers/{customer}/tags", None),
        ("post", f"/api/v1/customers/{customer}/tags", {"tag": "vip"}),
        ("get", f"/api/v1/customers/{customer}/loyalty", None),
        ("get", f"/api/v1/customers/{customer}/points", None),
        ("get", f"/api/v1/customers/{customer}/coupons", None),
        ("get", f"/api/v1/customers/{customer}/timeline", None),
        ("get", f"/api/v1/customers/{customer}/360", None),
    ]
    for method, path, body in calls:
        kwargs = {"json": body} if body is not None else {}
        response = client.request(method.upper(), path, headers=admin_headers, **kwargs)
        assert_problem(response, 404, "not_found")
    assert table_counts(db) == before


@pytest.mark.parametrize(
    ("create", "body", "patch"),
    [
        ("/api/v1/accounts", {"name": "上海关系贸易有限公司"}, {"industry": "零售"}),
        ("/api/v1/segments", {"name": "VIP", "conditions": VIP}, {"name": "VIP 2"}),
        ("/api/v1/tag-rules", {"code": "vip-rule", "tag": "vip2", "conditions": VIP}, {"tag": "vip3"}),
    ],
)
def test_other_deleted_rows_answer_404(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    create: str,
    body: dict[str, Any],
    patch: dict[str, Any],
) -> None:
    row = _created(client.post(create, json=body, headers=admin_headers))
    assert client.delete(f"{create}/{row}", headers=admin_headers).status_code == 204
    before = table_counts(db)
    assert_problem(client.get(f"{create}/{row}", headers=admin_headers), 404, "not_found")
    assert_problem(client.patch(f"{create}/{row}", json=patch, headers=admin_headers), 404, "not_found")
    assert_problem(client.delete(f"{create}/{row}", headers=admin_headers), 404, "not_found")
    listed = client.get(create, headers=admin_headers).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert [item["id"] for item in items] == []
    assert table_counts(db) == before
