"""Console actions and a busy database: a read that appends an audit record is run again as a
writer when SQLite refuses its late lock, and a database that stays busy is a readable notice,
never the "unexpected error" of a bug."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guanxi.console import actions
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []
    # No page is open here, so the notice is caught where perform hands it over (notify_once waits
    # for a page to show it on); its text is the catalog key.
    monkeypatch.setattr(actions, "notify_once", lambda error: shown.append(actions.error_text(error)))
    monkeypatch.setattr(actions, "tr", lambda key, **_: key)
    return shown


def _actions(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        return list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def test_a_read_overtaken_by_a_writer_is_run_again_as_a_writer(db: Database, notices: list[str]) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL has no late write lock to refuse")
    calls: list[int] = []

    def view(session: Session, actor: Principal) -> int:
        calls.append(1)
        count = session.scalar(select(func.count()).select_from(AuditRecord)) or 0  # the read's snapshot
        if len(calls) == 1:  # another writer commits meanwhile
            with db.unit_of_work() as other:
                audit.record(other, SYSTEM, "test.other_writer")
        audit.record(session, actor, "test.viewed")
        return count

    result = actions.perform(view, principal=SYSTEM, write=False)
    assert result.ok and result.value == 1
    assert len(calls) == 2
    assert _actions(db) == ["test.other_writer", "test.viewed"]
    assert notices == []


def test_a_database_that_stays_busy_is_a_notice_and_changes_nothing(db: Database, notices: list[str]) -> None:
    def write(session: Session, actor: Principal) -> Any:
        audit.record(session, actor, "test.lost")
        raise OperationalError("INSERT", None, Exception("database is locked"))

    result = actions.perform(write, principal=SYSTEM)
    assert isinstance(result.error, actions.DatabaseBusy)
    assert notices == ["error.database_busy"]
    assert _actions(db) == []
