"""The PostgreSQL grants of docs/security.md: the application's role appends to the trail and can
change nothing in it, even with the triggers gone."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit
from tests.integration.privacy.tamper import triggers_dropped

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def documented_grants() -> list[str]:
    """The SQL block after the `app-role-grants` marker, one statement per line."""
    after = DOC.read_text(encoding="utf-8").split("<!-- app-role-grants", 1)[1]
    block = re.search(r"```sql\n(.*?)```", after, re.DOTALL)
    assert block is not None
    return [line.rstrip(";") for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture
def app_role(db: Database) -> Iterator[str]:
    if db.dialect != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"guanxi_app_{uuid.uuid4().hex[:8]}"
    with db.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        for statement in documented_grants():
            conn.execute(text(statement.replace("guanxi_app", role)))
    try:
        yield role
    finally:
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def as_role(conn: Connection, role: str) -> None:
    conn.execute(text(f"SET LOCAL ROLE {role}"))


def test_the_documented_statements_grant_then_revoke() -> None:
    statements = documented_grants()
    assert [s.split()[0] for s in statements] == ["GRANT", "GRANT", "GRANT", "ALTER", "ALTER", "REVOKE", "REVOKE"]


def test_the_app_role_appends_to_the_trail(db: Database, app_role: str) -> None:
    with db.engine.begin() as conn:
        as_role(conn, app_role)
        with Session(bind=conn) as session:
            audit.record(session, SYSTEM, "test.one")
            audit.record(session, SYSTEM, "test.two")
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session) == audit.VerifyResult(True, 2)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET actor_name = 'mallory'",
        "DELETE FROM audit_records",
        "TRUNCATE audit_records",
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
    ],
)
def test_the_app_role_cannot_change_the_trail_even_without_triggers(
    db: Database, app_role: str, statement: str
) -> None:
    with db.unit_of_work() as session:
        audit.record(session, SYSTEM, "test.one")
    with pytest.raises(DBAPIError, match="permission denied"), db.engine.begin() as conn, triggers_dropped(conn):
        as_role(conn, app_role)
        conn.execute(text(statement))
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session) == audit.VerifyResult(True, 1)
