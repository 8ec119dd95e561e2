"""B2B accounts and their contacts over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

BASE = "/api/v1/accounts"
USCC = "91110000600037341L"


@pytest.fixture
def account(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        BASE,
        json={
            "name": "上海关系贸易有限公司",
            "uscc": USCC.lower(),
            "industry": "零售",
            "city": "上海市",
            "region": "华东",
        },
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_get_list_update_delete(
    client: TestClient, admin_headers: dict[str, str], db: Database, account: dict[str, Any]
) -> None:
    assert {k: account[k] for k in ("name", "uscc", "industry", "city", "region", "owner_id", "contacts")} == {
        "name": "上海关系贸易有限公司",
        "uscc": USCC,
        "industry": "零售",
        "city": "上海市",
        "region": "华东",
        "owner_id": None,
        "contacts": [],
    }
    assert client.get(f"{BASE}/{account['id']}", headers=admin_headers).json() == account
    listed = client.get(BASE, params={"q": "关系"}, headers=admin_headers).json()
    assert [a["id"] for a in listed["items"]] == [account["id"]]
    assert client.get(BASE, params={"q": "100%"}, headers=admin_headers).json()["items"] == []

    updated = client.patch(
        f"{BASE}/{account['id']}", json={"industry": "批发", "city": "上海市"}, headers=admin_headers
    )
    assert updated.status_code == 200
    assert updated.json()["industry"] == "批发"
    assert audit_records(db, "account.update")[0].fields == ["industry"]

    assert client.delete(f"{BASE}/{account['id']}", headers=admin_headers).status_code == 204
    assert_problem(client.get(f"{BASE}/{account['id']}", headers=admin_headers), 404, "not_found")
    again = client.post(BASE, json={"name": "新公司", "uscc": USCC}, headers=admin_headers)
    assert again.status_code == 201  # the code was released with the deleted account


def test_contacts(client: TestClient, admin_headers: dict[str, str], db: Database, account: dict[str, Any]) -> None:
    first = client.post("/api/v1/customers", json={"name": "张伟"}, headers=admin_headers).json()
    second = client.post("/api/v1/customers", json={"name": "李娜"}, headers=admin_headers).json()
    url = f"{BASE}/{account['id']}/contacts"
    added = client.post(
        url, json={"customer_id": first["id"], "title": "采购经理", "is_primary": True}, headers=admin_headers
    )
    assert added.status_code == 201
    added = client.post(url, json={"customer_id": second["id"], "is_primary": True}, headers=admin_headers)
    contacts = added.json()["contacts"]
    assert [(c["name"], c["title"], c["is_primary"]) for c in contacts] == [
        ("李娜", None, True),
        ("张伟", "采购经理", False),
    ]

    before = table_counts(db)
    duplicate = client.post(url, json={"customer_id": first["id"]}, headers=admin_headers)
    assert_problem(duplicate, 409, "conflict", ["customer_id"])
    assert table_counts(db) == before

    analyst = headers_for(db, client, "analyst")
    masked = client.get(f"{BASE}/{account['id']}", headers=analyst).json()
    assert [c["name"] for c in masked["contacts"]] == ["李*", "张*"]

    contact_id = contacts[1]["id"]
    assert client.delete(f"{url}/{contact_id}", headers=admin_headers).status_code == 204
    assert_problem(client.delete(f"{url}/{contact_id}", headers=admin_headers), 404, "not_found")
    assert [c["name"] for c in client.get(f"{BASE}/{account['id']}", headers=admin_headers).json()["contacts"]] == [
        "李娜"
    ]
    unknown = client.post(url, json={"customer_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ"}, headers=admin_headers)
    assert_problem(unknown, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field", "status", "code"),
    [
        ({"name": "公司", "uscc": "91110000600037341M"}, "uscc", 422, "validation_failed"),
        ({"name": "公司", "uscc": "x" * 33}, "uscc", 422, "validation_failed"),
        ({"name": ""}, "name", 422, "validation_failed"),
        ({"name": "公司", "owner_id": "01JAAAAAAAAAAAAAAAAAAAAAAA"}, "owner_id", 422, "validation_failed"),
        ({"name": "公司", "website": "x"}, "website", 422, "validation_failed"),
        ({"name": "公司", "uscc": USCC}, "uscc", 409, "conflict"),
    ],
)
def test_account_validation(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    account: dict[str, Any],
    body: dict[str, Any],
    field: str,
    status: int,
    code: str,
) -> None:
    before = table_counts(db)
    problem = assert_problem(client.post(BASE, json=body, headers=admin_headers), status, code, [field])
    if status == 409:
        assert problem["existing_account_id"] == account["id"]
    assert table_counts(db) == before


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_read_only_roles_cannot_write_accounts(
    client: TestClient, db: Database, account: dict[str, Any], role: str
) -> None:
    headers = headers_for(db, client, role)
    assert client.get(f"{BASE}/{account['id']}", headers=headers).status_code == 200
    before = table_counts(db)
    for method, path, body in (
        ("POST", BASE, {"name": "公司"}),
        ("PATCH", f"{BASE}/{account['id']}", {"industry": "x"}),
        ("DELETE", f"{BASE}/{account['id']}", None),
    ):
        assert_problem(client.request(method, path, json=body, headers=headers), 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 3
    assert after == before
