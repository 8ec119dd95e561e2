"""Tokens, throttling, the caller's profile, staff users and API keys over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import PASSWORD, create_staff, headers_for

TOKEN = "/api/v1/auth/token"
START = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> tuple[int, dict[str, str]]:
    response = client.post(TOKEN, data={"username": username, "password": password})
    return response.status_code, response.json()


@pytest.fixture
def alice(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_staff(session, username="alice", role="service", region="华东").id


def test_token_and_me(client: TestClient, alice: str) -> None:
    with clock.frozen(START):
        response = client.post(TOKEN, data={"username": "Alice", "password": PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert datetime.fromisoformat(body["expires_at"]) == START + timedelta(minutes=get_settings().token_ttl_minutes)
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": alice,
        "username": "alice",
        "display_name": "alice",
        "role": "service",
        "scope": "all",
        "region": "华东",
        "team": None,
        "language": "zh-CN",
        "is_active": True,
        "must_change_password": False,
        "last_login_at": START.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize(
    "data",
    [
        {"username": "alice", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice\x00", "password": PASSWORD},
    ],
)
def test_bad_login_is_401(client: TestClient, db: Database, alice: str, data: dict[str, str]) -> None:
    response = client.post(TOKEN, data=data)
    problem = assert_problem(response, 401, "not_authenticated")
    assert problem["detail"] == "incorrect username or password"
    assert table_counts(db)["auth_tokens"] == 0


def test_login_form_is_required(client: TestClient) -> None:
    assert_problem(client.post(TOKEN, data={"username": "alice"}), 422, "validation_failed", ["password"])
    assert_problem(client.post(TOKEN, json={"username": "alice", "password": "x"}), 422, "validation_failed")


def test_throttled_after_five_failures_with_retry_after(client: TestClient, db: Database, alice: str) -> None:
    with clock.frozen(START) as frozen:
        for _ in range(5):
            assert _login(client, "alice", "wrong-password")[0] == 401
        frozen.advance(timedelta(seconds=100))
        throttled = client.post(TOKEN, data={"username": "alice", "password": PASSWORD})
        problem = assert_problem(throttled, 429, "too_many_attempts")
        assert throttled.headers["Retry-After"] == "800"
        assert problem["detail"] == "too many failed sign-ins; try again in 800 seconds"
        assert problem["retry_after"] == 800
        # An unknown name gets the same treatment: a 429 says nothing about which accounts exist.
        for _ in range(5):
            assert _login(client, "nobody", "wrong-password")[0] == 401
        frozen.advance(timedelta(seconds=100))
        unknown = client.post(TOKEN, data={"username": "nobody", "password": PASSWORD})
        assert assert_problem(unknown, 429, "too_many_attempts")["detail"] == (
            "too many failed sign-ins; try again in 800 seconds"
        )
        assert table_counts(db)["auth_tokens"] == 0

        frozen.advance(timedelta(seconds=700))
        assert _login(client, "alice")[0] == 200
    outcomes = [(r.outcome, r.detail.get("reason")) for r in audit_records(db, "auth.login")]
    assert outcomes == (
        [("failed", "bad_password")] * 5
        + [("failed", "throttled")]
        + [("failed", "unknown_user")] * 5
        + [("failed", "throttled"), ("ok", None)]
    )


def test_token_expiry(client: TestClient, alice: str) -> None:
    with clock.frozen(START) as frozen:
        headers = {"Authorization": f"Bearer {_login(client, 'alice')[1]['access_token']}"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        frozen.advance(timedelta(minutes=get_settings().token_ttl_minutes))
        problem = assert_problem(client.get("/api/v1/me", headers=headers), 401, "not_authenticated")
        assert problem["detail"] == "token expired or revoked"


def test_revoked_token_is_401(client: TestClient, db: Database, alice: str) -> None:
    raw = _login(client, "alice")[1]["access_token"]
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    with db.unit_of_work() as session:
        auth_service.revoke_token(session, raw)
    assert_problem(client.get("/api/v1/customers", headers=headers), 401, "not_authenticated")


def test_users(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    created = client.post(
        "/api/v1/users",
        json={
            "username": "Mgr.East",
            "password": "long-enough-1",
            "role": "manager",
            "region": "华东",
            "display_name": "华东经理",
        },
        headers=admin_headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("username", "display_name", "role", "scope", "region")} == {
        "username": "mgr.east",
        "display_name": "华东经理",
        "role": "manager",
        "scope": "region",
        "region": "华东",
    }
    assert "long-enough-1" not in created.text
    assert not {"password", "password_hash"} & set(body)
    assert (body["is_active"], body["must_change_password"], body["last_login_at"]) == (True, False, None)
    users = client.get("/api/v1/users", headers=admin_headers).json()
    assert ([u["username"] for u in users["items"]], users["next_cursor"]) == (["admin", "mgr.east"], None)
    first = client.get("/api/v1/users", params={"limit": 1}, headers=admin_headers).json()
    rest = client.get("/api/v1/users", params={"cursor": first["next_cursor"]}, headers=admin_headers).json()
    assert [u["username"] for u in first["items"] + rest["items"]] == ["admin", "mgr.east"]
    assert _login(client, "mgr.east", "long-enough-1")[0] == 200


@pytest.mark.parametrize(
    ("body", "fields", "status"),
    [
        ({"username": "x", "password": "long-enough-1", "role": "sales"}, ["username"], 422),
        ({"username": "bad name", "password": "long-enough-1", "role": "sales"}, ["username"], 422),
        ({"username": "bob", "password": "short", "role": "sales"}, ["password"], 422),
        ({"username": "bob", "password": "long-enough-1", "role": "wizard"}, ["role"], 422),
        ({"username": "bob", "password": "long-enough-1", "role": "manager"}, ["region"], 422),
        ({"username": "bob", "password": "long-enough-1", "role": "sales", "scope": "team"}, ["team"], 422),
        ({"username": "bob", "password": "long-enough-1", "role": "sales", "is_admin": True}, ["is_admin"], 422),
        ({"username": "admin", "password": "long-enough-1", "role": "sales"}, ["username"], 409),
    ],
)
def test_user_validation(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    body: dict[str, object],
    fields: list[str],
    status: int,
) -> None:
    before = table_counts(db)
    code = "conflict" if status == 409 else "validation_failed"
    assert_problem(client.post("/api/v1/users", json=body, headers=admin_headers), status, code, fields)
    assert table_counts(db) == before


@pytest.mark.parametrize("role", ["manager", "service", "analyst", "auditor", "sales"])
def test_only_admins_create_users_and_keys(client: TestClient, db: Database, role: str) -> None:
    headers = headers_for(db, client, role, region="华东" if role == "manager" else None)
    before = table_counts(db)
    user = client.post(
        "/api/v1/users", json={"username": "eve", "password": "long-enough-1", "role": "admin"}, headers=headers
    )
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=headers)
    assert_problem(user, 403, "permission_denied")
    assert_problem(key, 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 2
    assert after == before


def test_api_keys(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "门店POS", "scopes": ["customers:read", "customers:create"]},
        headers=admin_headers,
    )
    assert created.status_code == 201
    key = created.json()
    assert (key["name"], key["role"], key["scopes"], key["revoked_at"]) == (
        "门店POS",
        "integration",
        ["customers:create", "customers:read"],
        None,
    )
    assert key["key"].startswith(f"gx_{key['prefix']}_")
    listed = client.get("/api/v1/api-keys", headers=admin_headers).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0]

    pos = {"X-API-Key": key["key"]}
    me = client.get("/api/v1/me", headers=pos).json()
    assert me == {"id": key["id"], "name": "key:门店POS", "role": "integration", "kind": "api_key"}
    assert client.post("/api/v1/customers", json={"name": "张伟"}, headers=pos).status_code == 201
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
    customer_id = client.get("/api/v1/customers", headers=pos).json()["items"][0]["id"]

    before = table_counts(db)
    for method, path, body in (
        ("PATCH", f"/api/v1/customers/{customer_id}", {"city": "北京市"}),
        ("POST", f"/api/v1/customers/{customer_id}/tags", {"tag": "vip"}),
        ("GET", f"/api/v1/customers/{customer_id}/tags", None),
    ):
        assert_problem(client.request(method, path, json=body, headers=pos), 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 3
    assert after == before

    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin_headers).status_code == 204
    assert_problem(client.get("/api/v1/customers", headers=pos), 401, "not_authenticated")
    assert client.get("/api/v1/api-keys", headers=admin_headers).json()["items"][0]["revoked_at"] is not None
    assert_problem(
        client.delete("/api/v1/api-keys/01JZZZZZZZZZZZZZZZZZZZZZZZ", headers=admin_headers), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "k", "role": "admin"}, "role"),
        ({"name": "k", "role": "wizard"}, "role"),
        ({"name": "k", "scopes": ["customers:read", "everything"]}, "scopes"),
        ({"name": ""}, "name"),
        ({"name": "k", "scopes": "customers:read"}, "scopes"),
    ],
)
def test_api_key_validation(
    client: TestClient, admin_headers: dict[str, str], db: Database, body: dict[str, object], field: str
) -> None:
    before = table_counts(db)
    assert_problem(client.post("/api/v1/api-keys", json=body, headers=admin_headers), 422, "validation_failed", [field])
    assert table_counts(db) == before
