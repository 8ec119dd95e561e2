"""Read-only roles write nothing: every write route of the OpenAPI, for analyst and auditor, is
refused with 403 and leaves every table (but the audit trail, which records the refusal) as it was.

The routes are read from `app.openapi()`, so a route added later is covered without editing this.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.auth.deps import READS_BY_POST
from guanxi.auth.permissions import MATRIX, Role
from guanxi.kit.db import Database
from guanxi.kit.runs import BackgroundRun
from guanxi.migrations.all_models import metadata
from tests.api.helpers import assert_problem, audit_records
from tests.factories import create_customer, headers_for

WRITE_METHODS = ("post", "put", "patch", "delete")
# Routes about the caller's own credentials, open to every role by design.
OWN_SESSION = {("post", "/api/v1/auth/token"), ("post", "/api/v1/auth/logout"), ("post", "/api/v1/auth/password")}
AUDIT_TABLES = {"audit_records", "audit_chain_head"}
PLACEHOLDER_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
RUN_TABLES = frozenset({"background_runs"})


def write_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    ]


def content(db: Database, *, besides: frozenset[str] = frozenset()) -> dict[str, str]:
    """A digest of every row of every table except the audit trail's (and `besides`)."""
    digests = {}
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in AUDIT_TABLES | besides:
                continue
            rows = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            digests[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def fill(path: str, customer_id: str) -> str:
    path = path.replace("{customer_id}", customer_id)
    return re.sub(r"\{[^}]+\}", PLACEHOLDER_ID, path)


@pytest.fixture
def customer_id(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name="张伟", phone="13800138000").id


def test_the_routes_are_read_from_the_openapi(app: FastAPI) -> None:
    routes = write_routes(app)
    assert ("post", "/api/v1/data-quality/checks") in routes
    assert len(routes) > 60
    assert set(routes) >= OWN_SESSION
    assert {("post", path) for path in READS_BY_POST} <= set(routes)


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_every_write_route_is_refused_and_changes_nothing(
    app: FastAPI, client: TestClient, db: Database, customer_id: str, role: str
) -> None:
    headers = headers_for(db, client, role)
    refused = [
        (method, path)
        for method, path in write_routes(app)
        if (method, path) not in OWN_SESSION and path not in READS_BY_POST
    ]
    before = content(db)
    denials = len(audit_records(db, "permission.denied"))
    for method, path in refused:
        response = client.request(method.upper(), fill(path, customer_id), json={}, headers=headers)
        problem = assert_problem(response, 403, "permission_denied")
        assert problem["detail"] == f"role {role} is read-only", (method, path)
    assert content(db) == before
    assert len(audit_records(db, "permission.denied")) == denials + len(refused)


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_reads_sent_by_post_stay_reads(client: TestClient, db: Database, customer_id: str, role: str) -> None:
    headers = headers_for(db, client, role)
    # A simulation is a read that runs in the background: its run row (who asked, the report) is
    # the only thing it may write, and only for a role allowed to read the liability.
    before = content(db, besides=RUN_TABLES)
    for path in sorted(READS_BY_POST):
        response = client.post(path, json={}, headers=headers)
        assert response.status_code != 403 or response.json()["detail"] != f"role {role} is read-only"
    assert content(db, besides=RUN_TABLES) == before
    with db.engine.connect() as conn:
        runs = conn.execute(select(BackgroundRun.kind, BackgroundRun.actor_name)).all()
    may_simulate = "read" in MATRIX[Role(role)].get("liability", frozenset())
    assert [kind for kind, _ in runs] == (["loyalty.simulation"] if may_simulate else [])


def test_an_analyst_cannot_store_a_quality_snapshot(client: TestClient, db: Database) -> None:
    headers = headers_for(db, client, "analyst")
    before = content(db)
    assert_problem(client.post("/api/v1/data-quality/checks", headers=headers), 403, "permission_denied")
    assert content(db) == before
    assert client.get("/api/v1/data-quality/checks", headers=headers).json() == []
