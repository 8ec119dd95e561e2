"""Who may do what over HTTP: 401s, 403s with their audit record, masking, reveal, row scopes, paging."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, row, table_counts
from tests.factories import headers_for

BASE = "/api/v1/customers"


@pytest.fixture
def customer(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        BASE,
        json={
            "name": "张伟",
            "phone": "13800138000",
            "email": "zhangwei@qq.com",
            "address": "上海市浦东新区世纪大道100号",
            "tags": ["vip"],
        },
        headers=admin_headers,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


def test_no_token_is_401(client: TestClient, db: Database) -> None:
    for method, path in (
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/stats"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/audit"),
    ):
        response = client.request(method, path, json={"name": "张伟"} if method == "POST" else None)
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    assert table_counts(db)["customers"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "gx_0123456789ab_nope"},
        {"X-API-Key": "not-even-shaped-right"},
        {"Authorization": "Bearer gx_0123456789ab_nope"},
    ],
)
def test_bad_credentials_are_401(client: TestClient, db: Database, headers: dict[str, str]) -> None:
    before = table_counts(db)
    assert_problem(client.post(BASE, json={"name": "张伟"}, headers=headers), 401, "not_authenticated")
    assert table_counts(db) == before


WRITES: dict[str, tuple[str, str, dict[str, Any] | None, str, str]] = {
    "create": ("POST", BASE, {"name": "李娜"}, "customers", "create"),
    "update": ("PATCH", f"{BASE}/{{id}}", {"city": "北京市"}, "customers", "update"),
    "delete": ("DELETE", f"{BASE}/{{id}}", None, "customers", "delete"),
    "note": ("POST", f"{BASE}/{{id}}/notes", {"body": "想改备注"}, "notes", "create"),
    "tag": ("POST", f"{BASE}/{{id}}/tags", {"tag": "黑名单"}, "tags", "create"),
    "untag": ("DELETE", f"{BASE}/{{id}}/tags/vip", None, "tags", "delete"),
    "identity": ("POST", f"{BASE}/{{id}}/identities", {"kind": "app_user_id", "value": "u1"}, "customers", "update"),
}


@pytest.mark.parametrize("role", ["analyst", "auditor"])
@pytest.mark.parametrize("action", list(WRITES))
def test_read_only_roles_are_refused_every_write(
    client: TestClient, db: Database, customer: dict[str, Any], role: str, action: str
) -> None:
    headers = headers_for(db, client, role)
    method, path, body, _resource, _verb = WRITES[action]
    before_counts = table_counts(db)
    before_row = row(db, "customers", customer["id"])
    last_seq = audit_records(db)[-1].seq

    response = client.request(method, path.format(id=customer["id"]), json=body, headers=headers)

    problem = assert_problem(response, 403, "permission_denied")
    # Refused before the route runs: a read-only role is refused every write (auth.deps).
    assert problem["detail"] == f"role {role} is read-only"
    assert "resource" not in problem
    records = [r for r in audit_records(db) if r.seq > last_seq]
    assert [(r.action, r.outcome, r.actor_name, r.actor_role) for r in records] == [
        ("permission.denied", "denied", role, role)
    ]
    assert records[0].detail == {
        "method": method,
        "path": path.format(id=customer["id"]),
        "resource": "*",
        "action": "write",
    }
    after_counts = table_counts(db)
    assert after_counts.pop("audit_records") == before_counts.pop("audit_records") + 1
    assert after_counts == before_counts
    assert row(db, "customers", customer["id"]) == before_row


def test_out_of_scope_update_is_denied_and_rolled_back(
    client: TestClient, db: Database, admin_headers: dict[str, str]
) -> None:
    east = client.post(BASE, json={"name": "张伟", "region": "华东", "city": "上海市"}, headers=admin_headers).json()
    manager = headers_for(db, client, "manager", region="华东")
    before = row(db, "customers", east["id"])
    response = client.patch(f"{BASE}/{east['id']}", json={"region": "华北", "city": "北京市"}, headers=manager)
    assert_problem(response, 403, "permission_denied")
    assert row(db, "customers", east["id"]) == before
    assert audit_records(db)[-1].detail["action"] == "scope"


def test_masking_by_role(
    client: TestClient, db: Database, admin_headers: dict[str, str], customer: dict[str, Any]
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for role in ("admin", "service", "marketing", "analyst", "auditor"):
        headers = admin_headers if role == "admin" else headers_for(db, client, role)
        detail = client.get(f"{BASE}/{customer['id']}", headers=headers).json()
        listed = client.get(BASE, headers=headers).json()["items"][0]
        seen[role] = {k: detail[k] for k in ("name", "phone", "email", "address")}
        seen[role]["identities"] = sorted(str(i["value"]) for i in detail["identities"])
        assert {k: listed[k] for k in ("name", "phone", "email", "address")} == {
            k: detail[k] for k in ("name", "phone", "email", "address")
        }
    assert seen == {
        "admin": {
            "name": "张伟",
            "phone": "+8613800138000",
            "email": "zhangwei@qq.com",
            "address": "上海市浦东新区世纪大道100号",
            "identities": ["+8613800138000", "zhangwei@qq.com"],
        },
        "service": {
            "name": "张伟",
            "phone": "138****8000",
            "email": "zh***@qq.com",
            "address": "上海市浦东****",
            "identities": ["138****8000", "zh***@qq.com"],
        },
        "marketing": {
            "name": "张伟",
            "phone": "138****8000",
            "email": "zh***@qq.com",
            "address": "上海市浦东****",
            "identities": ["138****8000", "zh***@qq.com"],
        },
        "analyst": {"name": "张*", "phone": None, "email": None, "address": None, "identities": ["None", "None"]},
        "auditor": {"name": "张*", "phone": None, "email": None, "address": None, "identities": ["None", "None"]},
    }


def test_full_reads_are_audited_masked_reads_are_not(
    client: TestClient, db: Database, customer: dict[str, Any]
) -> None:
    service = headers_for(db, client, "service")
    last_seq = audit_records(db)[-1].seq
    client.get(f"{BASE}/{customer['id']}", headers=service)
    client.get(BASE, headers=service)
    assert [r.action for r in audit_records(db) if r.seq > last_seq] == []


def test_reveal_by_service_is_audited(client: TestClient, db: Database, customer: dict[str, Any]) -> None:
    service = headers_for(db, client, "service")
    url = f"{BASE}/{customer['id']}/identities"
    masked = client.get(url, headers=service).json()
    assert sorted(i["value"] for i in masked) == ["138****8000", "zh***@qq.com"]
    last_seq = audit_records(db)[-1].seq

    revealed = client.get(url, params={"reveal": "true"}, headers=service)
    assert revealed.status_code == 200
    assert sorted(i["value"] for i in revealed.json()) == ["+8613800138000", "zhangwei@qq.com"]
    records = [r for r in audit_records(db) if r.seq > last_seq]
    assert [(r.action, r.actor_role, r.entity_id, r.fields) for r in records] == [
        ("customer.reveal", "service", customer["id"], ["identity.email", "identity.phone"])
    ]
    assert "13800138000" not in repr([(r.detail, r.fields) for r in records])


def test_reveal_by_marketing_is_403(client: TestClient, db: Database, customer: dict[str, Any]) -> None:
    marketing = headers_for(db, client, "marketing")
    last_seq = audit_records(db)[-1].seq
    response = client.get(f"{BASE}/{customer['id']}/identities", params={"reveal": "true"}, headers=marketing)
    assert_problem(response, 403, "permission_denied")
    assert "13800138000" not in response.text
    records = [r for r in audit_records(db) if r.seq > last_seq]
    assert [(r.action, r.detail["resource"], r.detail["action"]) for r in records] == [
        ("permission.denied", "customers", "reveal")
    ]


def test_manager_region_scope_over_http(client: TestClient, db: Database, admin_headers: dict[str, str]) -> None:
    east = client.post(
        BASE, json={"name": "张伟", "region": "华东", "phone": "13800138000"}, headers=admin_headers
    ).json()
    north = client.post(
        BASE, json={"name": "张强", "region": "华北", "phone": "13900139000"}, headers=admin_headers
    ).json()
    manager = headers_for(db, client, "manager", region="华东")
    assert [c["id"] for c in client.get(BASE, headers=manager).json()["items"]] == [east["id"]]
    assert [c["id"] for c in client.get(BASE, params={"q": "zhang"}, headers=manager).json()["items"]] == [east["id"]]
    assert client.get(BASE, params={"q": "13900139000"}, headers=manager).json()["items"] == []
    assert client.get(f"{BASE}/{east['id']}", headers=manager).status_code == 200
    assert_problem(client.get(f"{BASE}/{north['id']}", headers=manager), 404, "not_found")
    assert_problem(
        client.get(f"{BASE}/lookup", params={"kind": "phone", "value": "13900139000"}, headers=manager),
        404,
        "not_found",
    )
    assert client.get(f"{BASE}/stats", headers=manager).json() == {
        "total": 1,
        "new_this_week": 1,
        "by_city": [],
        "by_region": [["华东", 1]],
    }


def _walk(client: TestClient, headers: dict[str, str], **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, "limit": 3, **({"cursor": cursor} if cursor else {})}
        response = client.get(BASE, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([c["id"] for c in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10


@pytest.mark.parametrize("sort", ["created_at", "name", "member_no", "updated_at"])
def test_paging_through_all_customers(client: TestClient, admin_headers: dict[str, str], sort: str) -> None:
    names = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏"]
    created = [client.post(BASE, json={"name": n}, headers=admin_headers).json()["id"] for n in names]
    full = {
        o: [
            c["id"]
            for c in client.get(BASE, params={"sort": sort, "order": o, "limit": 50}, headers=admin_headers).json()[
                "items"
            ]
        ]
        for o in ("asc", "desc")
    }
    assert sorted(full["asc"]) == sorted(created)
    assert full["desc"] == list(reversed(full["asc"]))
    for order in ("asc", "desc"):
        pages = _walk(client, admin_headers, sort=sort, order=order)
        assert [len(p) for p in pages] == [3, 3, 1]
        flat = [i for p in pages for i in p]
        assert flat == full[order]
        assert len(set(flat)) == 7
    if sort == "created_at":
        assert full["asc"] == created


def test_paging_is_stable_when_customers_are_added(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = [
        client.post(BASE, json={"name": n}, headers=admin_headers).json()["id"]
        for n in ("张伟", "李娜", "王芳", "刘洋")
    ]
    first = client.get(BASE, params={"limit": 2, "order": "asc"}, headers=admin_headers).json()
    client.post(BASE, json={"name": "新人"}, headers=admin_headers)
    rest = client.get(
        BASE, params={"limit": 2, "order": "asc", "cursor": first["next_cursor"]}, headers=admin_headers
    ).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == created
