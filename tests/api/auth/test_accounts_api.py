"""Administering staff accounts over HTTP: disable, enable, reset a password (forced change),
change access, revoke sessions; the user's own password change and logout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.auth.models import AuthToken
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import PASSWORD, create_staff, token_headers

USERS = "/api/v1/users"
ME = "/api/v1/me"


@pytest.fixture
def alice(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_staff(session, username="alice", role="service").id


def _live_tokens(db: Database, user_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None)))
        return len(list(rows))


def test_disable_ends_every_session_and_refuses_sign_in_until_enabled(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    first, second = token_headers(client, "alice"), token_headers(client, "alice")
    assert client.get(ME, headers=first).status_code == 200
    disabled = client.post(f"{USERS}/{alice}/disable", headers=admin_headers)
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    assert _live_tokens(db, alice) == 0
    for headers in (first, second):
        assert assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")["detail"] == (
            "token expired or revoked"
        )
    refused = client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert assert_problem(refused, 401, "not_authenticated")["detail"] == "incorrect username or password"

    enabled = client.post(f"{USERS}/{alice}/enable", headers=admin_headers)
    assert enabled.json()["is_active"] is True
    assert client.get(ME, headers=first).status_code == 401  # old sessions stay ended
    assert client.get(ME, headers=token_headers(client, "alice")).status_code == 200
    changes = [
        (r.action, r.entity_id, r.detail) for r in audit_records(db) if r.action in ("user.disable", "user.enable")
    ]
    assert changes == [
        ("user.disable", alice, {"sessions_ended": 2}),
        ("user.enable", alice, {}),
    ]


def test_reset_password_allows_only_a_password_change(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    old = token_headers(client, "alice")
    reset = client.post(f"{USERS}/{alice}/password-reset", json={"password": "temporary-123"}, headers=admin_headers)
    assert reset.status_code == 200
    body = reset.json()
    assert (body["temporary_password"], body["sessions_ended"], body["user"]["must_change_password"]) == (
        "temporary-123",
        1,
        True,
    )
    assert client.get(ME, headers=old).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}).status_code == 401

    headers = token_headers(client, "alice", "temporary-123")
    assert client.get(ME, headers=headers).json()["must_change_password"] is True
    before = table_counts(db)
    for method, path in (("GET", "/api/v1/customers"), ("POST", "/api/v1/customers")):
        problem = assert_problem(
            client.request(method, path, json={"name": "张伟"}, headers=headers), 403, "password_change_required"
        )
        assert problem["detail"] == "your password was reset: change it first (POST /api/v1/auth/password)"
    assert table_counts(db)["customers"] == before["customers"] == 0

    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it-123", "new_password": "brand-new-456"},
        headers=headers,
    )
    assert_problem(wrong, 422, "validation_failed", ["current_password"])
    same = client.post(
        "/api/v1/auth/password",
        json={"current_password": "temporary-123", "new_password": "temporary-123"},
        headers=headers,
    )
    assert_problem(same, 422, "validation_failed", ["new_password"])
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": "temporary-123", "new_password": "brand-new-456"},
        headers=headers,
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/customers", headers=headers).status_code == 200  # the same token, now whole
    assert client.get(ME, headers=headers).json()["must_change_password"] is False
    assert client.get(ME, headers=token_headers(client, "alice", "brand-new-456")).status_code == 200


def test_a_generated_temporary_password_is_shown_once(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    body = client.post(f"{USERS}/{alice}/password-reset", headers=admin_headers).json()
    assert len(body["temporary_password"]) >= 12
    assert client.get(ME, headers=token_headers(client, "alice", body["temporary_password"])).status_code == 200
    assert body["temporary_password"] not in str([r.detail for r in audit_records(db)])


def test_change_role_and_region_takes_effect_on_the_next_request(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    headers = token_headers(client, "alice")
    assert client.get(ME, headers=headers).json()["role"] == "service"
    changed = client.patch(f"{USERS}/{alice}", json={"role": "manager", "region": "华南"}, headers=admin_headers)
    assert changed.status_code == 200
    assert {k: changed.json()[k] for k in ("role", "scope", "region")} == {
        "role": "manager",
        "scope": "region",
        "region": "华南",
    }
    assert client.get(ME, headers=headers).json()["role"] == "manager"
    cleared = client.patch(f"{USERS}/{alice}", json={"role": "analyst", "region": None}, headers=admin_headers)
    assert {k: cleared.json()[k] for k in ("role", "scope", "region")} == {
        "role": "analyst",
        "scope": "all",
        "region": None,
    }
    assert [sorted(r.fields) for r in audit_records(db, "user.access_change")] == [
        ["region", "role", "scope"],
        ["region", "role", "scope"],
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "wizard"}, "role"),
        ({"role": "manager"}, "region"),
        ({"scope": "team"}, "team"),
        ({"scope": "galaxy"}, "scope"),
        ({"is_admin": True}, "is_admin"),
        ({"region": "x" * 41}, "region"),
    ],
)
def test_bad_access_changes_name_the_field_and_change_nothing(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str], body: dict[str, object], field: str
) -> None:
    before = table_counts(db)
    assert_problem(
        client.patch(f"{USERS}/{alice}", json=body, headers=admin_headers), 422, "validation_failed", [field]
    )
    assert table_counts(db) == before
    assert client.get(f"{USERS}/{alice}", headers=admin_headers).json()["role"] == "service"


def test_revoke_sessions_ends_them_but_the_user_may_sign_in_again(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    headers = token_headers(client, "alice")
    token_headers(client, "alice")
    revoked = client.post(f"{USERS}/{alice}/sessions/revoke", headers=admin_headers)
    assert revoked.json() == {"user_id": alice, "sessions_ended": 2}
    assert client.get(ME, headers=headers).status_code == 401
    assert client.get(ME, headers=token_headers(client, "alice")).status_code == 200
    assert client.post(f"{USERS}/{alice}/sessions/revoke", headers=admin_headers).json()["sessions_ended"] == 1


def test_the_last_administrator_cannot_be_disabled_or_demoted(
    client: TestClient, db: Database, admin_headers: dict[str, str]
) -> None:
    admin_id = client.get(ME, headers=admin_headers).json()["id"]
    assert_problem(client.post(f"{USERS}/{admin_id}/disable", headers=admin_headers), 400, "bad_request", ["user_id"])
    assert_problem(
        client.patch(f"{USERS}/{admin_id}", json={"role": "sales"}, headers=admin_headers), 400, "bad_request"
    )
    with db.unit_of_work() as session:
        other = create_staff(session, username="root2", role="admin").id
    other_headers = token_headers(client, "root2")
    assert client.post(f"{USERS}/{admin_id}/disable", headers=other_headers).status_code == 200
    assert_problem(client.post(f"{USERS}/{other}/disable", headers=other_headers), 400, "bad_request")


@pytest.mark.parametrize("role", ["manager", "service", "sales", "marketing", "analyst", "auditor"])
def test_only_administrators_administer_accounts(client: TestClient, db: Database, alice: str, role: str) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="actor", role=role, region="华东" if role == "manager" else None)
    headers = token_headers(client, "actor")
    before = table_counts(db)
    for method, path, body in (
        ("POST", f"{USERS}/{alice}/disable", None),
        ("POST", f"{USERS}/{alice}/enable", None),
        ("POST", f"{USERS}/{alice}/password-reset", {"password": "temporary-123"}),
        ("POST", f"{USERS}/{alice}/sessions/revoke", None),
        ("PATCH", f"{USERS}/{alice}", {"role": "admin"}),
    ):
        assert_problem(client.request(method, path, json=body, headers=headers), 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 5
    assert after == before


def test_unknown_user_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    for method, suffix in (("POST", "/disable"), ("POST", "/sessions/revoke"), ("PATCH", ""), ("GET", "")):
        response = client.request(method, f"{USERS}/01JZZZZZZZZZZZZZZZZZZZZZZZ{suffix}", json={}, headers=admin_headers)
        assert_problem(response, 404, "not_found")


def test_logout_revokes_the_presented_token(client: TestClient, db: Database, alice: str) -> None:
    headers, other = token_headers(client, "alice"), token_headers(client, "alice")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")["detail"] == (
        "token expired or revoked"
    )
    assert client.get(ME, headers=other).status_code == 200
    assert_problem(client.post("/api/v1/auth/logout", headers=headers), 401, "not_authenticated")
    assert [r.outcome for r in audit_records(db, "auth.logout")] == ["ok"]


def test_an_api_key_cannot_be_logged_out(client: TestClient, db: Database, admin_headers: dict[str, str]) -> None:
    key = client.post("/api/v1/api-keys", json={"name": "pos"}, headers=admin_headers).json()["key"]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        problem = assert_problem(client.post("/api/v1/auth/logout", headers=headers), 400, "api_key_cannot_log_out")
        assert problem["detail"] == (
            "an API key cannot be logged out; an administrator revokes it with DELETE /api/v1/api-keys/{id}"
        )
    assert client.get("/api/v1/customers", headers={"X-API-Key": key}).status_code == 200
