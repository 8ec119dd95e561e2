"""How an API request's transaction begins: reads as readers, audited reads as writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from guanxi.kit.db import Database
from tests.factories import headers_for


@contextmanager
def begins(db: Database) -> Iterator[list[str]]:
    """The BEGIN statements SQLite sees inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_reads_begin_as_readers_unless_they_are_audited(client: TestClient, db: Database) -> None:
    admin = headers_for(db, client, "admin")
    service = headers_for(db, client, "service")
    created = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin)
    url = f"/api/v1/customers/{created.json()['id']}"
    for headers in (admin, service):  # the first request of each resolves its token
        assert client.get(url, headers=headers).status_code == 200
    with begins(db) as seen:
        assert client.get(url, headers=service).json()["phone"] == "138****8000"
        assert client.get(url, headers=admin).json()["phone"] == "+8613800138000"  # a reveal: audited
        assert client.post("/api/v1/customers", json={"name": "李娜"}, headers=service).status_code == 201
    if db.is_sqlite:
        assert seen == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"]
    else:
        assert seen == []  # PostgreSQL's driver begins implicitly
