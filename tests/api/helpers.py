"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, text

from guanxi.kit.db import Database
from guanxi.migrations.all_models import metadata
from guanxi.privacy.models import AuditRecord

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str, fields: list[str] | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with this status and code (and these error fields)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if fields is not None:
        assert sorted(e["field"] for e in body.get("errors", [])) == sorted(fields), body
        for error in body.get("errors", []):
            assert set(error) == {"field", "message", "code"}
    return body


def table_counts(db: Database) -> dict[str, int]:
    """Row count of every table: compare before and after to show nothing was written."""
    with db.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in metadata.sorted_tables
        }


def row(db: Database, table: str, row_id: str) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id}).one()._mapping)


def audit_records(db: Database, action: str | None = None) -> list[AuditRecord]:
    with db.unit_of_work(read_only=True) as session:
        stmt = select(AuditRecord).order_by(AuditRecord.seq)
        if action:
            stmt = stmt.where(AuditRecord.action == action)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def finished_run(client: Any, started: httpx.Response, headers: dict[str, str]) -> dict[str, Any]:
    """A POST that started a background run answered 202 with its Location; the run there is done
    (API tests run it as soon as the request commits) and is returned."""
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/v1/runs/{started.json()['id']}"
    answer = client.get(started.headers["location"], headers=headers)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    assert run["status"] == "done", run
    return run


def exported(
    client: Any, headers: dict[str, str], body: dict[str, Any], params: dict[str, str] | None = None
) -> httpx.Response:
    """POST /exports/customers (202, a run), then its file once the run is done."""
    started = client.post("/api/v1/exports/customers", json=body, params=params or {}, headers=headers)
    run = finished_run(client, started, headers)
    response: httpx.Response = client.get(f"/api/v1/runs/{run['id']}/file", headers=headers)
    assert response.status_code == 200, response.text
    return response
