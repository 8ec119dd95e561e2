"""GET /api/v1/audit: who may read the trail, its filters, and that it holds no personal values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from guanxi.kit.db import Database
from guanxi.privacy import checkpoints
from tests.api.helpers import assert_problem, audit_records, exported
from tests.factories import headers_for
from tests.integration.privacy.tamper import settings_env, triggers_dropped

AUDIT = "/api/v1/audit"


@pytest.fixture
def customer_id(client: TestClient, admin_headers: dict[str, str]) -> str:
    created = client.post(
        "/api/v1/customers", json={"name": "张伟", "phone": "13800138000", "email": "zw@qq.com"}, headers=admin_headers
    ).json()
    client.patch(f"/api/v1/customers/{created['id']}", json={"city": "上海市"}, headers=admin_headers)
    return str(created["id"])


def test_admin_reads_newest_first(
    client: TestClient, admin_headers: dict[str, str], db: Database, customer_id: str
) -> None:
    response = client.get(AUDIT, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["next_cursor"] is None
    entries = response.json()["items"]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True)
    assert seqs == [r.seq for r in reversed(audit_records(db))]
    assert set(entries[0]) == {
        "seq",
        "occurred_at",
        "actor_id",
        "actor_name",
        "actor_role",
        "action",
        "outcome",
        "entity_type",
        "entity_id",
        "fields",
        "ip",
    }
    assert entries[0]["ip"] == "testclient"
    for secret in ("13800138000", "zw@qq.com", "上海市"):
        assert secret not in response.text


def test_filters(client: TestClient, admin_headers: dict[str, str], customer_id: str) -> None:
    updates = client.get(AUDIT, params={"action": "customer.update"}, headers=admin_headers).json()["items"]
    # 上海市 as the city brings its province.
    assert [(e["action"], e["entity_id"], e["fields"]) for e in updates] == [
        ("customer.update", customer_id, ["city", "province"])
    ]
    for_customer = client.get(AUDIT, params={"entity_id": customer_id}, headers=admin_headers).json()["items"]
    assert {e["entity_id"] for e in for_customer} == {customer_id}
    assert "customer.create" in [e["action"] for e in for_customer]
    every = [e["seq"] for e in client.get(AUDIT, headers=admin_headers).json()["items"]]
    limited = client.get(AUDIT, params={"limit": 2}, headers=admin_headers).json()
    assert [e["seq"] for e in limited["items"]] == every[:2]
    rest = client.get(AUDIT, params={"limit": 500, "cursor": limited["next_cursor"]}, headers=admin_headers).json()
    assert [e["seq"] for e in rest["items"]] == every[2:]
    assert rest["next_cursor"] is None
    assert_problem(client.get(AUDIT, params={"limit": 0}, headers=admin_headers), 422, "validation_failed", ["limit"])
    assert_problem(client.get(AUDIT, params={"limit": 501}, headers=admin_headers), 422, "validation_failed", ["limit"])


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("manager", 200), ("service", 403), ("analyst", 403)])
def test_who_reads_the_trail(client: TestClient, db: Database, customer_id: str, role: str, status: int) -> None:
    headers = headers_for(db, client, role, region="华东" if role == "manager" else None)
    response = client.get(AUDIT, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert_problem(response, 403, "permission_denied")
        assert audit_records(db)[-1].action == "permission.denied"


def test_an_export_records_which_filters_it_used_never_their_values(
    client: TestClient, admin_headers: dict[str, str], db: Database, customer_id: str
) -> None:
    body = {"format": "csv", "q": "13800138000", "city": "上海市", "email": "zw@qq.com"}
    response = exported(client, admin_headers, body)
    assert "13800138000" in response.text  # the admin's file has the values; the trail must not
    (record,) = audit_records(db, "customer.export")
    assert record.detail == {"filters": ["city", "email", "q"], "format": "csv", "rows": 1, "visibility": "full"}
    stored = str((record.detail, record.fields, record.entity_id, record.actor_name))
    for secret in ("13800138000", "zw@qq.com", "上海市"):
        assert secret not in stored


@pytest.fixture
def own_checkpoints(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "checkpoints"
    with settings_env(audit_checkpoint_dir=str(directory)):
        yield directory


def _tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as conn, triggers_dropped(conn):
        for statement in statements:
            conn.execute(text(statement))


VERIFY = f"{AUDIT}/verify"


def test_verify_reports_an_intact_chain_and_its_checkpoints(
    client: TestClient, admin_headers: dict[str, str], db: Database, customer_id: str, own_checkpoints: Path
) -> None:
    assert checkpoints.write_checkpoint(db).anchor is not None
    signed = len(audit_records(db))
    answer = client.get(VERIFY, headers=admin_headers).json()
    checked = len(audit_records(db))  # reading as an admin audits nothing here, so equal
    assert answer == {
        "ok": True,
        "checked": checked,
        "first_bad_seq": None,
        "problem": None,
        "message": f"审计链完整：{checked} 条记录",
        "checkpoints": 1,
        "latest_checkpoint_seq": signed,
        "checkpoint_problems": [],
    }


@pytest.mark.parametrize(
    ("statements", "first_bad", "problem"),
    [
        (["UPDATE audit_records SET actor_name = 'mallory' WHERE seq = 2"], 2, "content_altered"),
        (["DELETE FROM audit_records WHERE seq = 2"], 2, "missing"),
        (["DELETE FROM audit_records", "DELETE FROM audit_chain_head"], 1, "removed_signed"),
    ],
)
def test_verify_names_the_first_bad_record(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    customer_id: str,
    own_checkpoints: Path,
    statements: list[str],
    first_bad: int,
    problem: str,
) -> None:
    checkpoints.write_checkpoint(db)
    _tamper(db, *statements)
    answer = client.get(VERIFY, headers=admin_headers).json()
    assert (answer["ok"], answer["first_bad_seq"], answer["problem"]) == (False, first_bad, problem)
    assert answer["message"].startswith(f"审计链在第 {first_bad} 条记录处被破坏：")


def test_verify_lists_a_forged_checkpoint(
    client: TestClient, admin_headers: dict[str, str], db: Database, customer_id: str, own_checkpoints: Path
) -> None:
    path = checkpoints.write_checkpoint(db).path
    assert path is not None
    path.write_text(path.read_text().replace('"seq": ', '"seq": 1'))
    answer = client.get(VERIFY, headers=admin_headers).json()
    assert (answer["ok"], answer["checkpoints"]) == (False, 0)
    assert answer["checkpoint_problems"] == [
        {"file": path.name, "code": "bad_signature", "message": f"检查点 {path.name} 不是由审计签名密钥签署的"}
    ]


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("service", 403), ("analyst", 403)])
def test_who_may_verify(client: TestClient, db: Database, role: str, status: int, own_checkpoints: Path) -> None:
    response = client.get(VERIFY, headers=headers_for(db, client, role))
    assert response.status_code == status
    if status == 403:
        assert_problem(response, 403, "permission_denied")
